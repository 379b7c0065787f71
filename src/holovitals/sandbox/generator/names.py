"""Names, places and demographics for synthetic people, as data.

Names are grouped by heritage so a person's given name, family name, OMB race/ethnicity and
preferred language fit together (a "Nguyễn Thị Lan" who prefers Vietnamese, a "José Ramírez"
who may prefer Spanish). Non-ASCII spellings are deliberate: they are what breaks naive
pipelines (encodings, search normalisation, C-CDA escaping), so the sandbox must produce them.
"""

from __future__ import annotations

import unicodedata
from typing import NamedTuple


class NameGroup(NamedTuple):
    weight: float
    female: tuple[str, ...]
    male: tuple[str, ...]
    family: tuple[str, ...]
    races: tuple[tuple[str, str, float], ...]  # OMB race (code, display, share within the group)
    hispanic: float  # share reporting Hispanic or Latino ethnicity
    languages: tuple[tuple[str, str, float], ...]  # BCP-47 (code, display, share preferring it)


NAME_GROUPS: tuple[NameGroup, ...] = (
    NameGroup(
        52,
        ("Mary", "Patricia", "Jennifer", "Linda", "Elizabeth", "Barbara", "Susan", "Jessica", "Sarah", "Karen",
         "Lisa", "Nancy", "Betty", "Margaret", "Sandra", "Ashley", "Kimberly", "Emily", "Donna", "Michelle",
         "Carol", "Amanda", "Melissa", "Deborah", "Stephanie", "Rebecca", "Sharon", "Laura", "Cynthia",
         "Amy", "Kathleen", "Angela", "Shirley", "Brenda", "Emma", "Olivia", "Ava", "Isabella", "Sophia",
         "Charlotte", "Amelia", "Harper", "Evelyn", "Abigail", "Madison", "Hannah", "Grace", "Chloe", "Zoë",
         "Renée", "Aaliyah", "Imani", "Ebony", "Keisha", "Destiny", "Siobhán", "Maeve", "Niamh"),
        ("James", "Robert", "John", "Michael", "David", "William", "Richard", "Joseph", "Thomas", "Charles",
         "Christopher", "Daniel", "Matthew", "Anthony", "Mark", "Donald", "Steven", "Paul", "Andrew", "Joshua",
         "Kenneth", "Kevin", "Brian", "George", "Timothy", "Ronald", "Edward", "Jason", "Jeffrey", "Ryan",
         "Jacob", "Gary", "Nicholas", "Eric", "Jonathan", "Stephen", "Larry", "Justin", "Scott", "Liam",
         "Noah", "Oliver", "Elijah", "Lucas", "Mason", "Logan", "Ethan", "Aiden", "Jackson", "Jamal",
         "Darnell", "Tyrone", "DeShawn", "Malik", "Seán", "Ciarán", "Declan"),
        ("Smith", "Johnson", "Williams", "Brown", "Jones", "Miller", "Davis", "Wilson", "Anderson", "Taylor",
         "Thomas", "Moore", "Jackson", "Martin", "Thompson", "White", "Harris", "Clark", "Lewis", "Robinson",
         "Walker", "Young", "Allen", "King", "Wright", "Scott", "Hill", "Green", "Adams", "Baker", "Nelson",
         "Carter", "Mitchell", "Roberts", "Turner", "Phillips", "Campbell", "Parker", "Evans", "Edwards",
         "Collins", "Stewart", "Morris", "Murphy", "Cook", "Rogers", "Morgan", "Cooper", "Peterson", "Bailey",
         "Reed", "Kelly", "Howard", "Washington", "Jefferson", "Freeman", "O'Brien", "O'Connor", "McCarthy",
         "Sullivan", "Ó Súilleabháin", "Fitzgerald", "Kowalski", "Nowak", "Schmidt", "Schneider",
         "Dubois", "Lefèvre", "Rossi", "Russo", "Bianchi", "Andersen", "Larsen", "Novák", "Horvat",
         "Lee-Whitfield", "St. John", "Van der Berg"),
        (("2106-3", "White", 0.72), ("2054-5", "Black or African American", 0.25),
         ("1002-5", "American Indian or Alaska Native", 0.03)),
        0.02,
        (("en-US", "English (United States)", 1.0),),
    ),
    NameGroup(
        19,
        ("María", "Guadalupe", "Sofía", "Valentina", "Camila", "Lucía", "Ximena", "Daniela", "Gabriela",
         "Isabel", "Ana", "Carmen", "Rosa", "Juana", "Verónica", "Alejandra", "Mariana", "Leticia",
         "Yolanda", "Paola", "Natalia", "Adriana", "Inés", "Beatriz", "Araceli", "Marisol"),
        ("José", "Juan", "Luis", "Carlos", "Jorge", "Miguel", "Jesús", "Alejandro", "Francisco", "Antonio",
         "Manuel", "Ramón", "Andrés", "Sebastián", "Mateo", "Santiago", "Diego", "Fernando", "Raúl",
         "Héctor", "Joaquín", "Emilio", "Rubén", "Óscar", "Iván", "Julián"),
        ("García", "Rodríguez", "Martínez", "Hernández", "López", "González", "Pérez", "Sánchez", "Ramírez",
         "Torres", "Flores", "Rivera", "Gómez", "Díaz", "Reyes", "Morales", "Cruz", "Ortiz", "Gutiérrez",
         "Chávez", "Ramos", "Ruiz", "Álvarez", "Mendoza", "Castillo", "Jiménez", "Vásquez", "Núñez",
         "Peña", "Muñoz", "Ibáñez", "de la Cruz"),
        (("2106-3", "White", 0.85), ("2054-5", "Black or African American", 0.05),
         ("1002-5", "American Indian or Alaska Native", 0.1)),
        0.97,
        (("en-US", "English (United States)", 0.6), ("es", "Spanish", 0.4)),
    ),
    NameGroup(
        3,
        ("Lan", "Linh", "Mai", "Hương", "Thảo", "Ngọc", "Trang", "Hà", "Phương", "Thu"),
        ("Minh", "Anh", "Hùng", "Dũng", "Tuấn", "Quang", "Phúc", "Bảo", "Huy", "Khoa"),
        ("Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Huỳnh", "Phan", "Vũ", "Võ", "Đặng", "Bùi", "Đỗ"),
        (("2028-9", "Asian", 1.0),),
        0.0,
        (("en-US", "English (United States)", 0.55), ("vi", "Vietnamese", 0.45)),
    ),
    NameGroup(
        3,
        ("Wei", "Xiu", "Mei", "Ying", "Hui", "Jing", "Lian", "Fang", "Yan", "Xin"),
        ("Wei", "Jun", "Hao", "Lei", "Jian", "Ming", "Tao", "Yong", "Chen", "Bo"),
        ("Wang", "Li", "Zhang", "Liu", "Chen", "Yang", "Huang", "Zhao", "Wu", "Zhou", "Xu", "Sun"),
        (("2028-9", "Asian", 1.0),),
        0.0,
        (("en-US", "English (United States)", 0.6), ("zh", "Chinese", 0.4)),
    ),
    NameGroup(
        3,
        ("Priya", "Ananya", "Aishwarya", "Deepa", "Kavya", "Lakshmi", "Meera", "Neha", "Pooja", "Sunita"),
        ("Arjun", "Rahul", "Vikram", "Sanjay", "Rohan", "Amit", "Anil", "Ravi", "Suresh", "Karthik"),
        ("Patel", "Sharma", "Singh", "Kumar", "Gupta", "Reddy", "Iyer", "Rao", "Mehta", "Shah", "Desai",
         "Nair"),
        (("2028-9", "Asian", 1.0),),
        0.0,
        (("en-US", "English (United States)", 0.85), ("hi", "Hindi", 0.15)),
    ),
    NameGroup(
        2,
        ("Ji-woo", "Seo-yeon", "Min-ji", "Eun-ji", "Soo-jin", "Hye-jin"),
        ("Min-jun", "Seo-jun", "Ji-ho", "Hyun-woo", "Dong-hyun", "Jae-won"),
        ("Kim", "Park", "Choi", "Jung", "Kang", "Cho", "Yoon", "Jang"),
        (("2028-9", "Asian", 1.0),),
        0.0,
        (("en-US", "English (United States)", 0.7), ("ko", "Korean", 0.3)),
    ),
    NameGroup(
        2,
        ("Fatima", "Aisha", "Layla", "Mariam", "Noor", "Yasmin", "Zeynep", "Amira"),
        ("Mohammed", "Ahmed", "Omar", "Ali", "Youssef", "Khalid", "Hassan", "İbrahim"),
        ("Haddad", "Khoury", "Mansour", "Nasser", "Saleh", "Hussein", "Abdullah", "Yılmaz", "Öztürk"),
        (("2106-3", "White", 1.0),),
        0.0,
        (("en-US", "English (United States)", 0.75), ("ar", "Arabic", 0.25)),
    ),
    NameGroup(
        2,
        ("Zoë", "Chloë", "Björk", "Søs", "Åsa", "Małgorzata", "Agnieszka", "Françoise", "Anaïs", "Ingrid"),
        ("Søren", "Björn", "Jürgen", "Łukasz", "Jiří", "François", "Loïc", "Håkon", "Mikael", "Stefan"),
        ("Müller", "Schäfer", "Østergaard", "Sørensen", "Åberg", "Lindqvist", "Wiśniewski", "Dvořák",
         "Łukasiewicz", "Gößmann", "Karlsson", "Nielsen"),
        (("2106-3", "White", 1.0),),
        0.0,
        (("en-US", "English (United States)", 1.0),),
    ),
    NameGroup(
        1,
        ("Leilani", "Malia", "Kalani", "Noelani", "Mele"),
        ("Keoni", "Kai", "Makoa", "Koa", "Sione"),
        ("Kahale", "Kealoha", "Akana", "Fonoti", "Tupou", "Kekumu"),
        (("2076-8", "Native Hawaiian or Other Pacific Islander", 1.0),),
        0.0,
        (("en-US", "English (United States)", 1.0),),
    ),
)

STREET_NAMES = (
    "Maple", "Oak", "Pine", "Cedar", "Elm", "Washington", "Lake", "Hill", "Park", "Main", "Church", "Sunset",
    "Highland", "Ridge", "Meadow", "Willow", "River", "Spring", "Forest", "Valley", "Mill", "Walnut",
    "Chestnut", "Lincoln", "Jefferson", "Franklin", "Madison", "Adams", "Jackson", "Center", "Prospect",
    "Orchard", "Harbor", "Bay", "Summit", "Birch", "Aspen", "Magnolia", "Dogwood", "Juniper", "Laurel",
    "Hawthorne", "Sycamore", "Cypress", "Linden", "Poplar", "Spruce", "Hickory", "Cottonwood", "Mesa",
    "Vista", "Canyon", "Del Rey", "Alameda", "Camino Real", "Bayou", "Prairie", "Granite", "Quarry",
)
STREET_SUFFIXES = ("St", "Ave", "Rd", "Ln", "Dr", "Ct", "Blvd", "Way", "Pl", "Ter", "Cir")

# (city, state, ZIP3 prefix, telephone area code, state FIPS code for driver's licence OIDs)
CITIES: tuple[tuple[str, str, str, str, str], ...] = (
    ("Boston", "MA", "021", "617", "25"), ("Worcester", "MA", "016", "508", "25"),
    ("Springfield", "IL", "627", "217", "17"), ("Chicago", "IL", "606", "312", "17"),
    ("Columbus", "OH", "432", "614", "39"), ("Cleveland", "OH", "441", "216", "39"),
    ("Austin", "TX", "787", "512", "48"), ("San Antonio", "TX", "782", "210", "48"),
    ("Houston", "TX", "770", "713", "48"), ("El Paso", "TX", "799", "915", "48"),
    ("Phoenix", "AZ", "850", "602", "04"), ("Tucson", "AZ", "857", "520", "04"),
    ("Denver", "CO", "802", "303", "08"), ("Seattle", "WA", "981", "206", "53"),
    ("Portland", "OR", "972", "503", "41"), ("Minneapolis", "MN", "554", "612", "27"),
    ("Madison", "WI", "537", "608", "55"), ("Nashville", "TN", "372", "615", "47"),
    ("Atlanta", "GA", "303", "404", "13"), ("Miami", "FL", "331", "305", "12"),
    ("Orlando", "FL", "328", "407", "12"), ("Charlotte", "NC", "282", "704", "37"),
    ("Raleigh", "NC", "276", "919", "37"), ("Richmond", "VA", "232", "804", "51"),
    ("Baltimore", "MD", "212", "410", "24"), ("Philadelphia", "PA", "191", "215", "42"),
    ("Pittsburgh", "PA", "152", "412", "42"), ("Albany", "NY", "122", "518", "36"),
    ("Buffalo", "NY", "142", "716", "36"), ("Brooklyn", "NY", "112", "718", "36"),
    ("Detroit", "MI", "482", "313", "26"), ("Grand Rapids", "MI", "495", "616", "26"),
    ("Indianapolis", "IN", "462", "317", "18"), ("Louisville", "KY", "402", "502", "21"),
    ("St. Louis", "MO", "631", "314", "29"), ("Kansas City", "MO", "641", "816", "29"),
    ("Omaha", "NE", "681", "402", "31"), ("Des Moines", "IA", "503", "515", "19"),
    ("Albuquerque", "NM", "871", "505", "35"), ("Salt Lake City", "UT", "841", "801", "49"),
    ("Boise", "ID", "837", "208", "16"), ("Sacramento", "CA", "958", "916", "06"),
    ("San Diego", "CA", "921", "619", "06"), ("Fresno", "CA", "937", "559", "06"),
    ("Los Angeles", "CA", "900", "213", "06"), ("Las Vegas", "NV", "891", "702", "32"),
    ("New Orleans", "LA", "701", "504", "22"), ("Birmingham", "AL", "352", "205", "01"),
    ("Jackson", "MS", "392", "601", "28"), ("Little Rock", "AR", "722", "501", "05"),
    ("Oklahoma City", "OK", "731", "405", "40"), ("Wichita", "KS", "672", "316", "20"),
    ("Burlington", "VT", "054", "802", "50"), ("Providence", "RI", "029", "401", "44"),
    ("Hartford", "CT", "061", "860", "09"), ("Newark", "NJ", "071", "973", "34"),
    ("Honolulu", "HI", "968", "808", "15"), ("Anchorage", "AK", "995", "907", "02"),
)

EMAIL_DOMAINS = ("example.com", "example.org", "example.net", "mail.example.com")


# Letters NFKD does not decompose into an ASCII base letter.
_ASCII_FOLD = str.maketrans({"đ": "d", "Đ": "D", "ł": "l", "Ł": "L", "ø": "o", "Ø": "O", "ß": "ss", "ı": "i"})


def ascii_slug(text: str) -> str:
    """Lower-case ASCII letters and digits only ("Nguyễn" -> "nguyen"), for e-mail addresses."""
    decomposed = unicodedata.normalize("NFKD", text.translate(_ASCII_FOLD))
    return "".join(c for c in decomposed if c.isascii() and c.isalnum()).lower()
