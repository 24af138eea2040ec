# ruff: noqa: E501  (hand-written data lines are kept whole)
"""Write the quality suite: world_mc, arithmetic, reading, instructions (all items written by hand here)."""

from __future__ import annotations

import random
from typing import Any

from common import DATA, place, write_jsonl, write_text

OUT = DATA / "quality"

# question | right answer | three wrong answers. Category headers start with '#'.
WORLD = """
# geography
What is the capital of Australia? | Canberra | Sydney | Melbourne | Perth
What is the capital of Canada? | Ottawa | Toronto | Vancouver | Montreal
Which is the longest river in South America? | The Amazon | The Paraná | The Orinoco | The Magdalena
On which continent is the Sahara Desert? | Africa | Asia | Australia | South America
Which ocean lies between Africa and Australia? | The Indian Ocean | The Atlantic Ocean | The Arctic Ocean | The Pacific Ocean
What is the capital of Japan? | Tokyo | Kyoto | Osaka | Hiroshima
Which country has the largest land area? | Russia | Canada | China | The United States
In which country is Mount Kilimanjaro? | Tanzania | Kenya | Uganda | Ethiopia
What is the capital of Brazil? | Brasília | Rio de Janeiro | São Paulo | Salvador
Which river flows through Cairo? | The Nile | The Congo | The Niger | The Zambezi
What is the highest mountain above sea level? | Mount Everest | K2 | Kangchenjunga | Mont Blanc
Which European country is shaped like a boot? | Italy | Greece | Spain | Croatia
What is the capital of Kenya? | Nairobi | Mombasa | Kampala | Addis Ababa
Which US state is made up entirely of islands in the Pacific Ocean? | Hawaii | Alaska | Florida | California
Along which side of South America do the Andes mountains run? | The western side | The eastern side | The northern coast | The centre, far from any coast
Which is the largest ocean on Earth? | The Pacific Ocean | The Atlantic Ocean | The Indian Ocean | The Arctic Ocean
What is the capital of Egypt? | Cairo | Alexandria | Luxor | Aswan
In which country is the city of Marrakesh? | Morocco | Algeria | Tunisia | Egypt
What is the capital of Argentina? | Buenos Aires | Santiago | Montevideo | Lima
The Strait of Gibraltar connects the Atlantic Ocean with which sea? | The Mediterranean Sea | The Black Sea | The Red Sea | The Baltic Sea
What is the capital of Germany? | Berlin | Munich | Hamburg | Frankfurt
Which continent has the most countries? | Africa | Europe | South America | Oceania
Off the coast of which country does the Great Barrier Reef lie? | Australia | Indonesia | The Philippines | New Zealand
What is the capital of Spain? | Madrid | Barcelona | Seville | Valencia
In which country is the city of Istanbul? | Turkey | Greece | Bulgaria | Iran
Which is the largest island in the world that is not a continent? | Greenland | New Guinea | Borneo | Madagascar
Which desert covers much of southern Mongolia and northern China? | The Gobi | The Kalahari | The Atacama | The Sahara
What is the capital of South Korea? | Seoul | Busan | Pyongyang | Incheon
Which of the North American Great Lakes has the largest surface area? | Lake Superior | Lake Michigan | Lake Huron | Lake Erie
What is the capital of Norway? | Oslo | Bergen | Stockholm | Copenhagen
What language is mainly spoken in Brazil? | Portuguese | Spanish | French | Italian
# science
Which gas do plants take in from the air for photosynthesis? | Carbon dioxide | Oxygen | Nitrogen | Helium
What is the chemical symbol for gold? | Au | Ag | Gd | Go
How many planets are in the Solar System? | Eight | Seven | Nine | Ten
Which planet is closest to the Sun? | Mercury | Venus | Mars | Earth
At sea level, at what temperature in degrees Celsius does pure water boil? | 100 | 90 | 120 | 212
Which organ pumps blood around the human body? | The heart | The liver | The lungs | The kidneys
What is the common name of the compound H2O? | Water | Hydrogen peroxide | Table salt | Ammonia
What force keeps the planets in orbit around the Sun? | Gravity | Magnetism | Friction | Static electricity
Which is the largest planet in the Solar System? | Jupiter | Saturn | Neptune | Earth
In an animal cell, which part holds most of the genetic material? | The nucleus | The cell membrane | The ribosomes | The cytoplasm
Which of these natural materials is the hardest? | Diamond | Quartz | Granite | Marble
Which vitamin does human skin make when it is exposed to sunlight? | Vitamin D | Vitamin C | Vitamin A | Vitamin B12
What is the chemical symbol for sodium? | Na | So | Sd | S
At sea level, at what temperature in degrees Celsius does pure water freeze? | 0 | 4 | -10 | 32
Which blood cells carry oxygen around the body? | Red blood cells | White blood cells | Platelets | Lymphocytes
Roughly how fast does light travel in a vacuum? | About 300,000 km per second | About 300 km per second | About 3,000 km per second | About 30 million km per second
Which planet is known as the Red Planet? | Mars | Venus | Jupiter | Mercury
What is the most abundant gas in Earth's atmosphere? | Nitrogen | Oxygen | Carbon dioxide | Argon
How many bones are there in a typical adult human body? | 206 | 186 | 226 | 306
Which particle carries a negative electric charge? | The electron | The proton | The neutron | The photon
What do honeybees collect from flowers to make honey? | Nectar | Resin | Sap | Dew
Which gas do plants release as a product of photosynthesis? | Oxygen | Carbon dioxide | Methane | Hydrogen
Which metal is a liquid at room temperature? | Mercury | Iron | Aluminium | Copper
What is the unit of electrical resistance? | The ohm | The volt | The ampere | The watt
Which of these animals is a mammal? | The dolphin | The shark | The salmon | The octopus
Which star is closest to Earth? | The Sun | Proxima Centauri | Sirius | Polaris
How many chromosomes does a typical human body cell have? | 46 | 23 | 44 | 48
What is the energy that a moving object has because of its motion called? | Kinetic energy | Potential energy | Nuclear energy | Chemical energy
Which element has atomic number 1? | Hydrogen | Helium | Oxygen | Carbon
What is the pH of pure water at 25 degrees Celsius? | 7 | 1 | 10 | 14
Which organ of the human body produces insulin? | The pancreas | The liver | The stomach | The spleen
What does a thermometer measure? | Temperature | Air pressure | Humidity | Wind speed
Through which of these does sound travel fastest? | Steel | Air | Water | A vacuum
What is the largest organ of the human body? | The skin | The liver | The brain | The lungs
What is the largest mammal alive today? | The blue whale | The African elephant | The giraffe | The hippopotamus
# history
In which year did the Second World War end? | 1945 | 1939 | 1918 | 1950
Who was the first person to walk on the Moon? | Neil Armstrong | Buzz Aldrin | Yuri Gagarin | John Glenn
Which civilisation built the pyramids of Giza? | The ancient Egyptians | The Romans | The Aztecs | The Vikings
In which year did the Berlin Wall fall? | 1989 | 1961 | 1975 | 1991
Who was the first President of the United States? | George Washington | Abraham Lincoln | Thomas Jefferson | John Adams
Augustus was the first emperor of which empire? | The Roman Empire | The Ottoman Empire | The Persian Empire | The Mongol Empire
In which year did the First World War begin? | 1914 | 1905 | 1918 | 1939
Who developed the first widely used polio vaccine, introduced in 1955? | Jonas Salk | Louis Pasteur | Alexander Fleming | Edward Jenner
Who painted the Mona Lisa? | Leonardo da Vinci | Michelangelo | Raphael | Vincent van Gogh
Which country gave the Statue of Liberty to the United States? | France | The United Kingdom | Spain | Italy
Who was the first woman to win a Nobel Prize? | Marie Curie | Ada Lovelace | Florence Nightingale | Rosalind Franklin
In which year did Christopher Columbus first reach the Americas? | 1492 | 1066 | 1588 | 1620
Which wall did the Romans begin building across northern Britain around the year 122? | Hadrian's Wall | The Great Wall | The Berlin Wall | Offa's Dyke
Who wrote the play Romeo and Juliet? | William Shakespeare | Charles Dickens | Jane Austen | Geoffrey Chaucer
Who is best known for leading India's non-violent campaign for independence from Britain? | Mahatma Gandhi | Winston Churchill | Nelson Mandela | Simón Bolívar
Nelson Mandela became president of which country in 1994? | South Africa | Zimbabwe | Kenya | Nigeria
In which year did the Titanic sink? | 1912 | 1905 | 1921 | 1898
Which civilisation built Machu Picchu? | The Inca | The Maya | The Aztecs | The Olmecs
Who was granted the 1876 US patent for the telephone? | Alexander Graham Bell | Thomas Edison | Nikola Tesla | Guglielmo Marconi
Which country launched Sputnik 1, the first artificial satellite? | The Soviet Union | The United States | China | The United Kingdom
In which city was the United States Declaration of Independence signed? | Philadelphia | Boston | New York | Washington, D.C.
Who was the British prime minister for most of the Second World War? | Winston Churchill | Neville Chamberlain | Clement Attlee | Margaret Thatcher
Who introduced printing with movable metal type to Europe in the fifteenth century? | Johannes Gutenberg | Isaac Newton | Galileo Galilei | Martin Luther
Which ship carried the Pilgrims to North America in 1620? | The Mayflower | The Santa María | The Endeavour | The Beagle
Whose expedition made the first voyage all the way around the world, from 1519 to 1522? | Ferdinand Magellan's | Vasco da Gama's | James Cook's | Marco Polo's
In which country did the Industrial Revolution begin? | Great Britain | Germany | The United States | Japan
Who wrote On the Origin of Species, setting out evolution by natural selection? | Charles Darwin | Gregor Mendel | Isaac Newton | Albert Einstein
In which country were the ancient Olympic Games held? | Greece | Italy | Egypt | Persia
In which year did the Bolsheviks take power in the Russian Revolution? | 1917 | 1905 | 1922 | 1945
Which city was divided by a wall from 1961 to 1989? | Berlin | Vienna | Warsaw | Prague
# everyday
How many days are there in a leap year? | 366 | 365 | 364 | 360
How many minutes are there in an hour? | 60 | 100 | 30 | 90
How many sides does a hexagon have? | Six | Five | Seven | Eight
Which month has the fewest days? | February | April | June | November
How many hours are there in a day? | 24 | 12 | 36 | 48
What colour do you get by mixing blue and yellow paint? | Green | Purple | Orange | Pink
How many legs does a spider have? | Eight | Six | Ten | Four
What is the smallest prime number? | 2 | 1 | 3 | 0
How many centimetres are there in one metre? | 100 | 10 | 1,000 | 12
By the most common count, how many continents are there? | Seven | Five | Six | Nine
How many players from one team are on the pitch at a time in association football (soccer)? | 11 | 9 | 10 | 12
What is the main ingredient of guacamole? | Avocado | Tomato | Cucumber | Peas
How many grams are there in a kilogram? | 1,000 | 100 | 10 | 10,000
Which day of the week comes after Friday? | Saturday | Thursday | Sunday | Monday
About how many weeks are there in a year? | 52 | 48 | 50 | 56
What is a young cat called? | A kitten | A puppy | A foal | A calf
Which instrument usually has 88 keys? | The piano | The guitar | The violin | The flute
How many strings does a standard violin have? | Four | Six | Five | Three
In which direction does the Sun rise? | East | West | North | South
How many seconds are there in a minute? | 60 | 100 | 30 | 120
What is frozen water called? | Ice | Steam | Dew | Fog
How many zeros are there in one million written in digits? | Six | Five | Seven | Nine
Which shape has exactly three sides? | A triangle | A square | A pentagon | A circle
How many items are in a dozen? | 12 | 10 | 13 | 20
Which of these is a citrus fruit? | A lemon | An apple | A banana | A grape
Which tool is used to measure length? | A ruler | A kitchen scale | A thermometer | A stopwatch
In temperate regions, in which season do deciduous trees usually drop their leaves? | Autumn | Spring | Summer | Midsummer
How many years are there in a century? | 100 | 10 | 1,000 | 50
What is the currency of Japan? | The yen | The won | The yuan | The rupee
Which is the fastest land animal? | The cheetah | The lion | The horse | The greyhound
"""


def world_mc() -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    category = ""
    for line in WORLD.strip().splitlines():
        if line.startswith("#"):
            category = line[1:].strip()
            continue
        question, right, *wrong = (part.strip() for part in line.split("|"))
        assert len(wrong) == 3, line
        pos = len(items) % 4
        items.append(
            {
                "id": f"world-{len(items) + 1:03d}",
                "category": category,
                "question": question,
                "choices": place(right, wrong, pos),
                "answer": pos,
            }
        )
    return items


# ---------------------------------------------------------------- arithmetic
NAMES = [
    "Ana",
    "Ben",
    "Chen",
    "Dara",
    "Eli",
    "Fatima",
    "Goran",
    "Hana",
    "Ivan",
    "Jamal",
    "Kiri",
    "Lena",
    "Mateo",
    "Nia",
    "Omar",
    "Priya",
    "Quinn",
    "Rosa",
    "Sami",
    "Tomas",
    "Uma",
    "Vera",
    "Wen",
    "Yusuf",
    "Zoe",
]


def arithmetic() -> list[dict[str, Any]]:
    rng = random.Random(4)
    items: list[dict[str, Any]] = []

    def add(kind: str, question: str, answer: int) -> None:
        items.append(
            {"id": f"arith-{len(items) + 1:03d}", "category": kind, "question": question, "answer": str(answer)}
        )

    # plain sums and products
    for _ in range(10):
        a, b = rng.randint(12, 999), rng.randint(12, 999)
        add("plain", f"What is {a} + {b}?", a + b)
    for _ in range(5):
        a, b = rng.randint(200, 999), rng.randint(10, 199)
        add("plain", f"What is {a} - {b}?", a - b)
    for _ in range(5):
        a, b = rng.randint(3, 25), rng.randint(3, 25)
        add("plain", f"What is {a} times {b}?", a * b)
    for _ in range(4):
        b, q = rng.randint(3, 12), rng.randint(4, 30)
        add("plain", f"What is {b * q} divided by {b}?", q)

    names = iter(rng.sample(NAMES, len(NAMES)) * 4)
    # one-step word problems
    one_step = [
        lambda n, a, b: (f"{n} has {a} stickers and is given {b} more. How many stickers does {n} have now?", a + b),
        lambda n, a, b: (
            f"A shelf holds {a + b} books. {n} takes {b} of them away. How many books are left on the shelf?",
            a,
        ),
        lambda n, a, b: (
            f"{n} buys {a % 9 + 2} boxes of pencils with {b % 11 + 4} pencils in each box. How many "
            f"pencils is that altogether?",
            (a % 9 + 2) * (b % 11 + 4),
        ),
        lambda n, a, b: (
            f"{n} shares {(a % 8 + 2) * (b % 7 + 3)} sweets equally among {a % 8 + 2} friends. How many "
            f"sweets does each friend get?",
            b % 7 + 3,
        ),
        lambda n, a, b: (
            f"A train leaves with {a} passengers and {b} more get on at the next stop. Nobody gets "
            f"off. How many passengers are on the train now?",
            a + b,
        ),
        lambda n, a, b: (
            f"{n} walked {a} metres in the morning and {b} metres in the afternoon. How many metres "
            f"did {n} walk in total?",
            a + b,
        ),
        lambda n, a, b: (f"A farm had {a + b} sheep. {b} of them were sold. How many sheep does the farm have now?", a),
        lambda n, a, b: (
            f"A ticket costs {a % 20 + 5} dollars. {n} buys {b % 6 + 2} tickets. How many dollars does {n} pay?",
            (a % 20 + 5) * (b % 6 + 2),
        ),
    ]
    for i in range(20):
        a, b = rng.randint(11, 95), rng.randint(11, 95)
        q, ans = one_step[i % len(one_step)](next(names), a, b)
        add("one_step", q, ans)

    # two-step word problems
    two_step: list[Any] = [
        lambda n, a, b, c: (
            f"{n} had {a + c} marbles, won {b} more, then gave away {c}. How many marbles does {n} have now?",
            a + b,
        ),
        lambda n, a, b, c: (
            f"{n} buys {a % 5 + 2} notebooks at {b % 4 + 3} dollars each and one pen for {c % 5 + 2} "
            f"dollars. How many dollars does {n} spend?",
            (a % 5 + 2) * (b % 4 + 3) + c % 5 + 2,
        ),
        lambda n, a, b, c: (
            f"A baker makes {a % 6 + 3} trays of {b % 5 + 8} rolls each and sells {c % 10 + 5} rolls. "
            f"How many rolls are left?",
            (a % 6 + 3) * (b % 5 + 8) - (c % 10 + 5),
        ),
        lambda n, a, b, c: (
            f"{n} reads {a % 15 + 10} pages on Monday, twice as many on Tuesday, and {c % 9 + 2} "
            f"pages on Wednesday. How many pages did {n} read over the three days?",
            3 * (a % 15 + 10) + c % 9 + 2,
        ),
        None,  # the teams problem, defined below
        lambda n, a, b, c: (
            f"{n} saves {a % 10 + 5} dollars a week for {b % 6 + 3} weeks and then spends {c % 20 + 2} "
            f"dollars. How many dollars are left?",
            (a % 10 + 5) * (b % 6 + 3) - (c % 20 + 2),
        ),
        lambda n, a, b, c: (
            f"A bus has {a + 20} passengers. At the first stop {c % 10 + 3} get off and {b % 10 + 1} get "
            f"on. How many passengers are on the bus now?",
            a + 20 - (c % 10 + 3) + b % 10 + 1,
        ),
        lambda n, a, b, c: (
            f"{n} has {a % 7 + 3} bags with {b % 6 + 4} apples each and eats {c % 3 + 2} apples. How "
            f"many apples are left?",
            (a % 7 + 3) * (b % 6 + 4) - (c % 3 + 2),
        ),
    ]

    def teams(n: str, a: int, b: int, c: int) -> tuple[str, int]:
        size = a % 4 + 3
        count = b % 5 + 4
        extra = c % 4 + 1
        return (
            f"A class is split into {count} teams of {size} pupils, and {extra} more pupils join later. How "
            f"many pupils are there now?",
            count * size + extra,
        )

    two_step[4] = teams
    for i in range(20):
        a, b, c = rng.randint(11, 95), rng.randint(11, 95), rng.randint(11, 95)
        q, ans = two_step[i % len(two_step)](next(names), a, b, c)
        add("two_step", q, ans)
    return items


# ---------------------------------------------------------------- reading
# Each passage (invented by the project) with questions: question | right | wrong | wrong | wrong
READING = """
== harbour
The harbour town of Veldmar holds a lantern festival every October. Fishermen hang paper lanterns on their boats,
and children float small candles on the water at dusk. The festival began in 1902, after a storm in which the
lights of the town guided a lost fishing fleet home. Today the festival lasts three nights and ends with a
procession to the old lighthouse.
In which month is the lantern festival held? | October | December | June | March
Why did the festival begin? | The town's lights guided a lost fleet home in a storm | A new lighthouse was opened | The fishing season ended early | A famous sailor was born in the town
How long does the festival last today? | Three nights | One night | A week | Two weeks
Where does the final procession go? | To the old lighthouse | To the town hall | To the fish market | Out to sea on boats
== beekeeper
Mira started keeping bees on the roof of her apartment building two years ago. She has three hives, each painted
a different colour so the bees can find their own home. Last summer the hives produced about forty jars of honey,
which Mira gave to her neighbours in return for letting the bees use the roof. She says the hardest part is
staying calm when she is stung.
Where does Mira keep her bees? | On the roof of her apartment building | In her back garden | On a farm outside the city | In a community park
Why are the hives painted different colours? | So the bees can find their own hive | To keep the hives cool | Because Mira likes bright colours | To scare away birds
What did Mira do with most of last summer's honey? | Gave it to her neighbours | Sold it at a market | Kept it for herself | Used it for baking
According to Mira, what is the hardest part of beekeeping? | Staying calm when she is stung | Carrying the hives upstairs | Painting the hives | Finding enough flowers
== library
The small library in Orrin closed for repairs in March when a pipe burst above the children's section. About two
hundred picture books were damaged by water. While the building was repaired, the librarians ran a book van that
parked outside the school on Tuesdays and the market on Saturdays. The library reopened in August with a new
reading corner built from donated wood.
What caused the library to close? | A pipe burst above the children's section | A fire in the reading room | The roof collapsed in a storm | The town ran out of money
Which books were damaged? | About two hundred picture books | All of the history books | The newspapers | The library's maps
Where did the book van park on Saturdays? | Outside the market | Outside the school | At the train station | At the town hall
What was new when the library reopened? | A reading corner built from donated wood | A café | A computer room | A larger car park
== marathon
Jonas trained for his first marathon for six months. He ran four times a week, increasing his longest run by two
kilometres every fortnight. On race day it rained heavily, and he finished in four hours and ten minutes, twenty
minutes slower than he had hoped. He said afterwards that he was proud simply to have crossed the line.
How long did Jonas train for the marathon? | Six months | Six weeks | One year | Two months
How often did Jonas run each week? | Four times | Twice | Every day | Six times
What was the weather like on race day? | It rained heavily | It was very hot | It was snowing | It was windy but dry
What finishing time had Jonas hoped for? | Three hours and fifty minutes | Four hours and thirty minutes | Four hours and ten minutes | Three hours exactly
== garden
The community garden on Elm Street has twenty plots. Each plot is rented for a small yearly fee, and the money pays
for water and tools that everyone shares. A waiting list is kept because demand is high. This year the gardeners
agreed to set aside two plots to grow vegetables for the local food bank.
How many plots does the garden have? | Twenty | Twelve | Two | Forty
What does the yearly fee pay for? | Water and shared tools | The gardeners' seeds | A gardener's salary | New fences
Why is there a waiting list? | Demand for plots is high | The garden is closed in winter | Plots are given by lottery each month | The garden is being rebuilt
What will the two set-aside plots be used for? | Growing vegetables for the food bank | A children's playground | Storing tools | Growing flowers for sale
== robot
A school robotics team built a robot that sorts recycling by colour. The robot uses a camera to look at each item
on a conveyor belt and a small arm to push it into one of three bins. In tests it sorted ninety items out of a
hundred correctly. The team plans to add a weight sensor next, because the camera struggles with clear plastic.
How does the robot decide where an item goes? | It looks at the item's colour with a camera | It weighs each item | It reads the label | It measures the item's size
How many bins does the robot use? | Three | Two | Four | Ten
How many items out of a hundred did it sort correctly in tests? | Ninety | One hundred | Seventy | Fifty
Why does the team want to add a weight sensor? | The camera struggles with clear plastic | The arm is too slow | The bins fill up too fast | The belt often breaks
== ferry
The ferry between Kessa Island and the mainland runs every two hours in summer but only twice a day in winter.
The crossing takes forty minutes. Islanders have asked for an extra evening ferry in winter so that students can
return home after classes at the mainland college. The ferry company has promised to try it for one term.
How often does the ferry run in summer? | Every two hours | Twice a day | Every hour | Once a day
How long is the crossing? | Forty minutes | Two hours | Twenty minutes | Four hours
Who would an extra winter evening ferry especially help? | Students returning from the mainland college | Tourists visiting in summer | Fishermen going out early | The ferry crew
What has the ferry company promised? | To try the extra ferry for one term | To lower ticket prices | To build a bridge | To run ferries every hour all year
== bakery
Lucía opened her bakery at five in the morning every day except Monday. Her best-selling item was a rye loaf made
from her grandmother's recipe. When the price of flour rose sharply, she chose to make smaller loaves instead of
raising the price, because many of her customers were pensioners on fixed incomes.
On which day was the bakery closed? | Monday | Sunday | Saturday | Friday
Where did the recipe for the rye loaf come from? | Lucía's grandmother | A cookbook | A baking course | A rival baker
What did Lucía do when flour became more expensive? | She made smaller loaves | She raised the price | She stopped baking rye bread | She closed the bakery
Why did she make that choice? | Many customers were pensioners on fixed incomes | Smaller loaves bake faster | Her oven was too small | Customers asked for smaller loaves
== comet
An amateur astronomer in a mountain village noticed a faint smudge of light in the night sky that did not appear on
her star charts. She photographed it on three nights in a row and saw that it moved a little against the stars each
time. She sent the photographs to an observatory, which confirmed that she had found a new comet. It was named after
her.
Where did the astronomer live? | In a mountain village | In a large city | On a ship | Near the coast
How many nights did she photograph the object? | Three nights in a row | One night | Two weeks | A whole year
What showed that the object was not a star? | It moved against the stars | It was very bright | It changed colour | It appeared only at dawn
How was the comet named? | After the astronomer | After her village | After the observatory | After the month it was found
== orchestra
The youth orchestra had a concert planned in the town square, but on the morning of the concert the forecast
predicted thunderstorms. The conductor moved the performance into the sports hall. Because the hall echoed
badly, volunteers hung heavy curtains along the walls. More than three hundred people came, more than had ever
attended an outdoor concert.
Where was the concert first planned? | In the town square | In the sports hall | In a church | In the school
Why was the concert moved? | Thunderstorms were forecast | The square was being repaired | Too many tickets were sold | The conductor was ill
What problem did the sports hall have? | It echoed badly | It was too small | It had no lights | It was too cold
How did the attendance compare with earlier outdoor concerts? | It was higher than ever before | It was the lowest ever | It was about the same | Nobody counted it
== bridge
The old stone bridge over the River Tamm was closed to cars in 2019 after engineers found cracks in one of its
arches. Instead of demolishing it, the town turned it into a footpath and cycle path. A new concrete bridge for
cars was built two hundred metres downstream. Local shops near the old bridge reported more customers once people
began walking across it.
Why was the old bridge closed to cars? | Engineers found cracks in an arch | It was too narrow for buses | The river flooded it | A new road made it unnecessary
What is the old bridge used for now? | Walking and cycling | Trains | Nothing; it is fenced off | Parking
Where was the new car bridge built? | Two hundred metres downstream | Next to the town hall | Upstream near the dam | On the same spot as the old one
What happened to shops near the old bridge? | They had more customers | Many of them closed | They moved to the new bridge | They stopped opening at weekends
== volunteer
Every Thursday, Arun volunteers at an animal shelter. He walks the dogs in the morning and cleans the cat rooms in
the afternoon. He first went there to adopt a dog, but the dog he wanted had already found a home, so he offered
to help instead. Three years later he adopted an older dog named Pepper, who had waited at the shelter for months.
On which day does Arun volunteer? | Thursday | Saturday | Monday | Sunday
What does Arun do in the afternoons at the shelter? | Cleans the cat rooms | Walks the dogs | Answers the phone | Feeds the rabbits
Why did Arun first go to the shelter? | To adopt a dog | To do a school project | To find a lost cat | To apply for a job
What do we learn about Pepper? | She was an older dog who had waited for months | She was a puppy | She belonged to Arun's neighbour | She was adopted on Arun's first visit
== tea
A small tea farm on a hillside changed how it dries its leaves. It used to dry them over wood fires, which filled
the valley with smoke. Now the leaves are dried in sheds heated by solar panels. The tea tastes slightly less
smoky, and some long-time customers complained, so the farm still makes one small batch each year over wood.
How did the farm dry its leaves before? | Over wood fires | In the open sun | In electric ovens | It did not dry them
What heats the drying sheds now? | Solar panels | Gas burners | Coal stoves | Wood fires
How did the change affect the taste? | The tea tastes slightly less smoky | The tea tastes sweeter | The tea tastes more bitter | The taste did not change at all
What does the farm do for customers who liked the old taste? | Makes one small wood-dried batch each year | Adds smoke flavouring | Refunds their money | Sells tea from another farm
== museum
The town museum asked residents to lend objects for an exhibition about everyday life fifty years ago. People
brought radios, school uniforms, kitchen scales and a wedding dress. The most popular object was a hand-written
recipe book full of notes in the margins. Visitors were invited to write their own family recipes on cards, which
were pinned to a wall beside the exhibition.
What was the exhibition about? | Everyday life fifty years ago | Ancient history | Modern art | The history of radio
Which object was the most popular? | A hand-written recipe book | A wedding dress | A radio | A school uniform
Where did the objects come from? | Residents lent them | The museum bought them at auction | A national museum sent them | They were found in the museum's basement
What were visitors invited to do? | Write their own family recipes on cards | Try on the uniforms | Cook a meal | Vote for their favourite object online
== snow
Heavy snow closed the mountain road to the village of Brenn for five days. The village shop ran low on bread and
milk, so the baker baked twice as much bread as usual and neighbours shared milk from two local farms. A helicopter
brought medicine for an elderly resident on the third day. When the road reopened, the village held a party for
the snowplough drivers.
How long was the road closed? | Five days | Three days | Two weeks | One night
How did the village cope with the bread shortage? | The baker baked twice as much as usual | Bread was flown in | People baked at home | The shop rationed bread
What did the helicopter bring? | Medicine for an elderly resident | Bread and milk | A snowplough | Tourists
Who was the party held for? | The snowplough drivers | The helicopter crew | The baker | The farmers
"""


def reading() -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    blocks = [b for b in READING.strip().split("== ") if b.strip()]
    for block in blocks:
        lines = block.strip().splitlines()
        key = lines[0].strip()
        text_lines = [ln for ln in lines[1:] if "|" not in ln]
        q_lines = [ln for ln in lines[1:] if "|" in ln]
        passage = " ".join(ln.strip() for ln in text_lines)
        for j, ln in enumerate(q_lines):
            question, right, *wrong = (p.strip() for p in ln.split("|"))
            assert len(wrong) == 3, ln
            pos = len(items) % 4
            items.append(
                {
                    "id": f"read-{key}-{j + 1}",
                    "passage": passage,
                    "question": question,
                    "choices": place(right, wrong, pos),
                    "answer": pos,
                }
            )
    return items


# ---------------------------------------------------------------- instructions
TOPICS = [
    "the ocean",
    "a rainy afternoon",
    "your favourite season",
    "a busy kitchen",
    "learning to ride a bicycle",
    "a city at night",
    "a mountain hike",
    "a public library",
    "recycling",
    "a thunderstorm",
    "a farmers' market",
    "the first day of school",
    "a long train journey",
    "growing tomatoes",
    "a lighthouse",
    "a snowy morning",
    "a football match",
    "a quiet forest",
    "a birthday party",
    "the Moon",
    "a desert",
    "a museum visit",
    "a camping trip",
    "a bakery",
    "bees",
    "a river",
    "winter clothing",
    "a street musician",
    "an old castle",
    "a sunrise",
    "a picnic",
    "a rainforest",
    "a bus stop",
    "an autumn walk",
    "a village fair",
    "a garden pond",
    "a volcano",
    "a cup of tea",
    "a science fair",
    "penguins",
    "a bookshop",
    "a harbour",
    "a windmill",
    "a chess game",
    "a kite festival",
    "a waterfall",
    "a marathon",
    "a painting class",
    "a ferry crossing",
    "a clock tower",
    "a hot air balloon",
    "an orchard",
    "a snowman",
    "a swimming pool",
    "a map",
    "a thunderous waterfall",
    "a vegetable soup",
    "a lost umbrella",
    "a telescope",
    "a wooden boat",
]

JSON_PROMPTS = [
    (
        'Describe a fruit of your choice. Reply only with a JSON object with the keys "name" and "colour".',
        ["name", "colour"],
    ),
    (
        'Invent a fictional city. Reply only with a JSON object with the keys "city", "country" and "population".',
        ["city", "country", "population"],
    ),
    ('Recommend a book. Reply only with a JSON object with the keys "title" and "author".', ["title", "author"]),
    (
        'Describe today\'s weather in an imaginary town. Reply only with JSON using the keys "temperature" and "sky".',
        ["temperature", "sky"],
    ),
    (
        'Make up a pet. Reply only with a JSON object that has the keys "species", "name" and "age".',
        ["species", "name", "age"],
    ),
    (
        'Give a simple recipe idea. Reply only with a JSON object with the keys "dish" and "ingredients".',
        ["dish", "ingredients"],
    ),
    (
        'Summarise a made-up meeting. Reply only with a JSON object with the keys "date", "attendees" and "decision".',
        ["date", "attendees", "decision"],
    ),
    (
        'Name a planet and one fact about it. Reply only with a JSON object with the keys "planet" and "fact".',
        ["planet", "fact"],
    ),
    (
        'Suggest a weekend activity. Reply only with a JSON object with the keys "activity", "place" and "cost".',
        ["activity", "place", "cost"],
    ),
]


def instructions() -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []

    def add(prompt: str, constraint: dict[str, Any]) -> None:
        items.append({"id": f"instr-{len(items) + 1:03d}", "prompt": prompt, "constraint": constraint})

    topics = iter(TOPICS)
    for n in (3, 3, 2, 4, 5, 3, 2, 4, 5):
        t = next(topics)
        add(f"Describe {t} in exactly {n} words. Reply with the {n} words only.", {"type": "word_count", "n": n})
    for prompt, keys in JSON_PROMPTS:
        add(prompt, {"type": "json_keys", "keys": keys})
    for _ in range(9):
        t = next(topics)
        add(
            f"Write two sentences about {t}. Use only lowercase letters: no capital letters at all.",
            {"type": "lowercase"},
        )
    for n in (10, 15, 20, 12, 25, 8, 30, 10, 20):
        t = next(topics)
        add(f"Explain what makes {t} interesting, in no more than {n} words.", {"type": "max_words", "n": n})
    starts = ["Yes", "No", "Certainly", "Once upon a time", "Dear friend", "Today", "In short", "Yes", "No"]
    questions = [
        'Is water wet? Start your answer with the word "Yes".',
        'Can fish fly like birds? Start your answer with the word "No".',
        'Could you describe {t} briefly? Begin your reply with "Certainly".',
        'Tell a very short story about {t}. It must begin with "Once upon a time".',
        'Write a short note to a friend about {t}. Begin with "Dear friend".',
        'Write one sentence about {t} that begins with the word "Today".',
        'Summarise why people enjoy {t}. Start your answer with "In short".',
        'Is the Sun a star? Answer starting with "Yes" and add one sentence of explanation.',
        'Is a tomato a vegetable in the botanical sense? Start your answer with "No" and explain briefly.',
    ]
    for s, q in zip(starts, questions, strict=True):
        t = next(topics)
        add(q.format(t=t), {"type": "starts_with", "text": s})
    words = ["blue", "river", "lantern", "seven", "silver", "quietly", "bridge", "orange", "thunder"]
    for w in words:
        t = next(topics)
        add(
            f'Write two sentences about {t}. Use the word "{w}" somewhere in your answer.',
            {"type": "contains", "text": w},
        )
    for n in (3, 4, 5, 3, 2, 4, 3, 5, 2):
        t = next(topics)
        add(
            f"List exactly {n} things you associate with {t}, as a bulleted list with {n} bullet points and "
            f"nothing else.",
            {"type": "bullet_count", "n": n},
        )
    return items


YAML = {
    "world_mc": """name: world_mc
suite: quality
kind: multiple_choice
data: world_mc.jsonl
description: Four-option world-knowledge questions (geography, science, history, everyday facts)
template: "Question: {{ question }}\\nAnswer:"
choices_field: choices
target_field: answer
choice_prefix: " "
fewshot: {n: 0, seed: 1234}
metrics: [acc, acc_norm]
""",
    "reading": """name: reading
suite: quality
kind: multiple_choice
data: reading.jsonl
description: Four-option questions about short invented passages (answer found in the passage)
template: "Passage: {{ passage }}\\nQuestion: {{ question }}\\nAnswer:"
choices_field: choices
target_field: answer
choice_prefix: " "
fewshot: {n: 0, seed: 1234}
metrics: [acc, acc_norm]
""",
    "arithmetic": """name: arithmetic
suite: quality
kind: generate
data: arithmetic.jsonl
description: Plain sums and one- and two-step word problems with integer answers
template: "Answer with the number only.\\nQuestion: {{ question }}\\nAnswer:"
chat: true
max_tokens: 16
scorer:
  type: numeric
  tolerance: 0.01
target_field: answer
fewshot: {n: 0, seed: 1234}
metrics: [exact_match]
""",
    "instructions": """name: instructions
suite: quality
kind: generate
data: instructions.jsonl
description: Instructions with one checkable constraint each (word counts, JSON keys, case, prefixes, bullets)
template: "{{ prompt }}"
chat: true
max_tokens: 128
scorer:
  type: constraint
fewshot: {n: 0, seed: 1234}
metrics: [exact_match]
""",
}


def main() -> None:
    data = {"world_mc": world_mc(), "arithmetic": arithmetic(), "reading": reading(), "instructions": instructions()}
    for name, items in data.items():
        write_jsonl(OUT / f"{name}.jsonl", items)
        write_text(OUT / f"{name}.yaml", YAML[name])


if __name__ == "__main__":
    main()
