"""The prose bank: questions across many domains, each with its correct answer in slot markup.

Written as one text block because that is how it is easiest to read and extend: a line
``@domain question`` opens an item, each following line is one sentence of its answer, the
first being the key sentence. Slots are ``{kind:value|wrong|wrong}`` (see
:mod:`proxy.sim.answers.model`): ``n`` name, ``y`` year, ``d`` date, ``q`` number, ``m`` money in
dollars, ``x`` negation or its opposite. Numbers written with thousands separators may be
rendered without them; numbers written without (ports, codes) are always kept as written.

House rules, checked by the tests: every sentence starts with ordinary wording (never a slot);
wording outside slots holds no digit, no capitalised word after the first, no negation and no
number word; every item has at least one slot that can be made wrong.
"""

from __future__ import annotations

__all__ = ["PROSE"]

PROSE = """
@history When was the Eiffel Tower built, and how tall is it?
The tower was completed in {y:1889} for the world's fair held in {n:Paris|Lyon|Brussels}.
It stands roughly {q:330} metres tall, antennas included.
Its design came from the firm of the engineer {n:Gustave Eiffel|Maurice Koechlin|Henri Labrouste}.
It was meant to be temporary, but the city kept it because it proved useful for radio.
@history When did the Berlin Wall fall?
The wall fell on {d:9 November 1989}, when the border crossings in {n:Berlin|Bonn|Leipzig} opened.
It had divided the city for {q:28} years.
Reunification of the country followed in {y:1990}.
Demolition went on for months, and short stretches were kept as memorials.
@history What was the Magna Carta and when was it sealed?
The charter was sealed in {y:1215} by {n:King John|King Henry} at {n:Runnymede|Windsor}.
It limited royal power, although the pope annulled it within weeks.
Just {q:3} of its clauses remain part of the law today.
@history When did the first moon landing happen?
The landing took place on {d:20 July 1969}, with {n:Neil Armstrong|Buzz Aldrin} stepping out first.
The crew spent roughly {q:21} hours on the lunar surface.
A third astronaut stayed in orbit aboard the command module.
@history Who invented the printing press with movable type?
The press was built around {y:1440} by {n:Johannes Gutenberg|William Caxton} in {n:Mainz|Cologne}.
His bible, printed with movable metal type, ran to roughly {q:180} copies.
The technique spread across the continent within a few decades.
@history What happened to the Titanic?
The ship sank on {d:15 April 1912} after striking an iceberg on its maiden voyage.
Roughly {q:1,500} of the more than {q:2,200} people aboard died.
It had sailed from {n:Southampton|Liverpool|Belfast} bound for {n:New York|Boston|Halifax}.
The lifeboats had room for roughly half of those aboard.
@history What happened on Bastille Day?
The crowd stormed the prison known as the {n:Bastille|Conciergerie} on {d:14 July 1789}.
The fortress held just {q:7} inmates at the time.
The date is now the national holiday of {n:France|Belgium}.
@history When did the Western Roman Empire fall?
The western empire ended in {y:476}, when {n:Odoacer|Alaric|Attila} deposed the last emperor.
The eastern half, ruled from {n:Constantinople|Alexandria|Antioch}, lasted until {y:1453}.
Historians still debate whether the end was a sudden fall or a slow transformation.
@history When did the Suez Canal open and what does it connect?
The canal opened in {y:1869} and links the {n:Mediterranean|Adriatic} to the {n:Red Sea|Black Sea}.
It is roughly {q:193} kilometres long.
It has {x:no|several} locks, because both seas lie at nearly the same level.
Ships use it to avoid the long voyage around the southern tip of the continent.
@geography How tall is Mount Everest?
The summit stands {q:8,849} metres above sea level, a figure agreed in {y:2020}.
It lies on the border between {n:Nepal|Bhutan|India} and {n:China|Pakistan}.
The first confirmed ascent came in {y:1953}.
@geography What is the longest river in the world?
The {n:Nile|Amazon|Yangtze} is usually listed as the longest river, at roughly {q:6,650} kilometres.
Some surveys give the title to the {n:Amazon|Congo|Mississippi}, depending on where its source lies.
The answer depends on how tributaries and estuaries are counted.
@geography What is the capital of Canada?
The capital is {n:Ottawa|Toronto|Montreal}, in the province of {n:Ontario|Quebec}.
It was chosen by {n:Queen Victoria|Queen Anne} in {y:1857}.
Many people guess the largest city instead, which is a common mistake.
@geography How big is the Sahara desert?
The desert covers roughly {q:9.2} million square kilometres.
It spans {q:11} countries across the north of the continent.
Most of its surface is rock plateau rather than sand dunes.
@geography What is special about Lake Baikal?
The lake in {n:Siberia|Mongolia} is the deepest on the planet, at roughly {q:1,642} metres.
It holds roughly {q:20}% of the world's unfrozen surface fresh water.
It is also among the oldest lakes, at an estimated {q:25} million years.
@geography How large is the Great Barrier Reef?
The reef stretches for roughly {q:2,300} kilometres off the coast of {n:Queensland|Victoria}.
It is made up of more than {q:2,900} individual reefs.
Warming seas have caused repeated bleaching events in recent years.
@geography When did the Panama Canal open and how does it work?
The canal opened on {d:15 August 1914} and crosses the isthmus of {n:Panama|Nicaragua}.
Ships pass through {q:3} sets of locks that lift them roughly {q:26} metres.
A transit usually takes most of a day.
@geography How many people live in Iceland, and is it in the EU?
The country has roughly {q:390,000} residents, most of them around {n:Reykjavik|Akureyri}.
It is {x:not|also} a member of the {n:European Union}, although it belongs to the single market.
Its population is small but has grown quickly since the turn of the century.
@science How fast does light travel?
Light travels at {q:299,792} kilometres per second in a vacuum.
Sunlight takes roughly {q:8} minutes to reach the planet.
The value has been fixed by definition since {y:1983}.
@science At what temperature does water boil?
At sea level, water boils at {q:100} degrees on the {n:Celsius|Fahrenheit} scale.
At higher altitude the boiling point drops, because the air pressure is lower.
On the summit of a high mountain it can boil at roughly {q:70} degrees.
@science Who discovered the structure of DNA?
The double helix was described in {y:1953} by {n:James Watson|Linus Pauling} and {n:Francis Crick}.
Their model relied on an x-ray image produced by {n:Rosalind Franklin|Dorothy Hodgkin}.
Each human cell holds roughly {q:2} metres of the molecule.
@science Who discovered penicillin?
The drug was discovered in {y:1928} by {n:Alexander Fleming|Howard Florey} in {n:London|Paris}.
He noticed that a mould had killed the bacteria around it in a culture dish.
It {x:did not|did} become widely available until mass production began in {y:1943}.
@science How does photosynthesis work?
Plants turn light, water and carbon dioxide into sugar and oxygen inside their chloroplasts.
Roughly {q:120} billion tonnes of carbon are fixed this way each year.
The dark reactions {x:do not|also} need light directly; they run on energy stored earlier.
@science How many bones does the human body have?
An adult skeleton has {q:206} bones, while a newborn starts with roughly {q:270}.
Many of them fuse during childhood.
The smallest, the stapes, sits in the middle ear and is roughly {q:3} millimetres long.
@science How does radiocarbon dating work?
The method measures a carbon isotope with a half-life of roughly {q:5,730} years.
It works for material up to roughly {q:50,000} years old.
It was developed by {n:Willard Libby|Ernest Rutherford} in {y:1949}.
@science What is absolute zero?
The lowest possible temperature is {q:0} kelvin, which equals {q:-273.15} degrees {n:Celsius}.
It can be approached in the laboratory but {x:never|eventually} reached.
Experiments have cooled atoms to within a billionth of a degree of it.
@astronomy How far away is the Moon?
The moon orbits at an average distance of roughly {q:384,400} kilometres.
Its orbit is slightly elliptical, so the distance changes over the month.
Light covers the gap in just over {q:1.3} seconds.
@astronomy How many planets are in the solar system?
The solar system has {q:8} planets since {n:Pluto|Ceres|Eris} was reclassified in {y:2006}.
The decision was taken by the {n:International Astronomical Union|European Space Agency}.
It is now counted as a dwarf planet.
@astronomy How long is a day on Mars?
A day on {n:Mars|Venus} lasts {q:24} hours and {q:37} minutes.
Its year is much longer, at roughly {q:687} days.
Scientists call the martian day a sol.
@astronomy When was the Hubble Space Telescope launched?
The telescope was launched on {d:24 April 1990} aboard the shuttle {n:Discovery|Atlantis|Endeavour}.
A flaw in its main mirror was corrected by a repair mission in {y:1993}.
It orbits roughly {q:540} kilometres above the surface.
@astronomy What is the James Webb Space Telescope?
The observatory launched on {d:25 December 2021} from {n:French Guiana|Florida|Kazakhstan}.
Its primary mirror is {q:6.5} metres across.
It observes mainly in infrared light, from a point roughly {q:1.5} million kilometres away.
@health How much sleep do adults need?
Adults are advised to sleep at least {q:7} hours a night.
Teenagers need more, roughly {q:8} to {q:10} hours.
Regularly sleeping less is linked to higher blood pressure and weaker immunity.
@health How much vitamin D should adults take?
Adults are usually advised to get {q:600} units of vitamin {n:D} a day, or {q:800} after {q:70}.
Sunlight on the skin lets the body make its own supply.
Supplements {x:are not|are} needed by most people who spend time outdoors in summer.
@health What is a normal resting heart rate?
A normal resting heart rate for adults is between {q:60} and {q:100} beats per minute.
Trained athletes can sit well below that range, sometimes near {q:40}.
A rate that stays high at rest is worth raising with a doctor.
@health How is the measles vaccine given?
The vaccine is given in {q:2} doses, the first at {q:12} to {q:15} months of age.
Together the doses are roughly {q:97}% effective.
Immunity is considered lifelong, so adults {x:do not|usually} need a booster.
@health How often can I donate blood?
Donors must wait at least {q:56} days between whole blood donations.
The gap lets the body rebuild its iron stores.
Platelet donors can give far more often, up to {q:24} times a year.
@health How much caffeine is safe per day?
Healthy adults can take up to {q:400} milligrams of caffeine a day.
That is roughly {q:4} cups of brewed coffee.
Pregnant people are advised to stay under {q:200} milligrams.
@finance How much will 10,000 dollars grow to at 5% over 10 years?
Investing {m:10,000} at {q:5}% a year, compounded yearly, gives {m:16,289} after {q:10} years.
The gain comes from earning interest on earlier interest.
Fees and taxes would reduce that total.
@finance What is the Roth IRA contribution limit?
For {y:2024}, the contribution limit is {m:7,000}, or {m:8,000} if you are {q:50} or older.
Eligibility phases out at higher incomes.
Contributions {x:are not|are} deductible, but qualified withdrawals are tax-free.
@finance What does the invoice come to with VAT?
The total comes to {m:1,452}, which is {m:1,210} plus {q:20}% value added tax.
The tax portion is {m:242}.
Prices on the invoice {x:do not|already} include the tax, so it is added at the end.
@finance What is the monthly payment on a 300k mortgage at 6%?
For a loan of {m:300,000} at {q:6}% over {q:30} years, the monthly payment is roughly {m:1,799}.
Over the full term you would pay roughly {m:347,515} in interest.
Property taxes and insurance come on top of that.
@finance What happens to my shares in a stock split?
After a {q:4}-for-{q:1} split, a holder of {q:100} shares owns {q:400} shares.
Each share is then worth a quarter of its previous price.
A split {x:does not|does} change the company's market value.
@finance What was US inflation at the end of 2023?
Prices rose by {q:3.4}% in the year to {n:December|November} {y:2023}.
The figure comes from the {n:Bureau of Labor Statistics|Federal Reserve}.
Excluding food and energy, the core rate was {q:3.9}%.
Shelter costs drove most of the increase.
@law How large can GDPR fines be?
Fines can reach {q:20} million euros or {q:4}% of global annual turnover, whichever is higher.
The regulation took effect on {d:25 May 2018} across the {n:European Union|European Economic Area}.
Processing personal data {x:without|with} a lawful basis such as consent is the most common breach.
@law When was the US voting age lowered to 18?
The voting age was lowered to {q:18} by the {n:Twenty-sixth Amendment|Nineteenth Amendment}.
It was ratified in {y:1971}.
Before that, most states set it at {q:21}.
@law How long does copyright last?
In the {n:United States|United Kingdom}, copyright for an author lasts for life plus {q:70} years.
Works made for hire are protected for {q:95} years from publication.
Ideas and facts themselves are {x:not|also} protected; the law covers their expression.
@law Can I record a phone call in California?
Recording a call {x:without|with} everyone's consent is a crime in {n:California|Texas|New York}.
The state is among roughly {q:11} that require every party to agree.
Penalties include fines of up to {m:2,500} per violation.
@law What is the federal minimum wage?
The federal minimum wage is {m:7.25} an hour and has stayed there since {y:2009}.
Many states set a higher rate, such as {n:Washington|Oregon|Texas} at {m:16.28} in {y:2024}.
Tipped workers can be paid less, as long as tips make up the difference.
@technology What does HTTP 404 mean?
The {q:404} status code means the server {x:did not find|found} the requested resource.
It differs from {q:410}, which says the resource is gone for good.
Search engines eventually drop pages that keep answering this way.
@technology When was Python 3.12 released?
Version {q:3.12} of {n:Python} was released on {d:2 October 2023}.
It improved error messages and made the interpreter roughly {q:5}% faster.
Security fixes for it are planned until {y:2028}.
@technology How does the TCP handshake work?
The handshake uses {q:3} messages: a synchronise, a synchronise-acknowledge and an acknowledge.
It adds a round trip before any data flows.
Connections {x:are not|are} encrypted by the handshake itself; that is the job of another layer.
@technology How many bytes does UTF-8 use per character?
The encoding uses between {q:1} and {q:4} bytes per character.
It was designed in {y:1992} by {n:Ken Thompson|Dennis Ritchie} and {n:Rob Pike|Brian Kernighan}.
Plain ascii text is valid in it unchanged, which made adoption easy.
@technology Which port does Redis listen on?
The server listens on port {q:6379} by default.
It keeps the whole dataset in memory and can persist it to disk.
Exposing it to the internet {x:without|with} a password is a common cause of breaches.
@technology Who created Git?
The version control system was created by {n:Linus Torvalds|Richard Stallman} in {y:2005}.
He wrote it after the free licence for the previous tool was withdrawn.
Maintenance was handed over to {n:Junio Hamano|Greg Kroah-Hartman} a few months later.
@technology How many IPv4 addresses are there?
The protocol uses {q:32}-bit addresses, giving roughly {q:4.3} billion of them.
The last free blocks were handed out by the central registry in {y:2011}.
Its successor uses {q:128}-bit addresses.
@technology How many pods can a Kubernetes node run?
By default a node runs at most {q:110} pods.
The limit can be raised through the kubelet's max-pods setting.
Going much higher strains the node's networking and memory.
@technology How much downtime does a 99.9% SLO allow?
A {q:99.9}% availability target allows roughly {q:43.8} minutes of downtime per month.
At {q:99.99}% the budget shrinks to roughly {q:4.4} minutes.
Teams usually freeze risky releases once the budget is spent.
@sports Who won the 2018 World Cup final?
The final was won by {n:France|Croatia}, who beat {n:Croatia|France} {q:4}-{q:2} in {n:Moscow}.
It was played on {d:15 July 2018}.
The young forward {n:Kylian Mbappe|Antoine Griezmann} scored in the match.
@sports What is the men's marathon world record?
The record of {q:2} hours, {q:0} minutes and {q:35} seconds is held by {n:Kelvin Kiptum}.
He ran it in {n:Chicago|Berlin|London} in {y:2023}.
He took the record from {n:Eliud Kipchoge|Haile Gebrselassie}.
The race distance is {q:42.195} kilometres.
@sports Who won the 2023 Wimbledon men's final?
The title went to {n:Carlos Alcaraz|Novak Djokovic}, who beat {n:Novak Djokovic|Carlos Alcaraz}.
It took {q:5} sets to decide.
The match lasted roughly {q:4} hours and {q:42} minutes.
The champion was {q:20} years old.
@sports Where and when were the 2024 Summer Olympics?
The games were held in {n:Paris|Los Angeles|Brisbane} from {d:26 July 2024} to {d:11 August 2024}.
Roughly {q:10,500} athletes competed in {q:329} events.
It was the third time the city had hosted the summer games.
@sports Who holds the NBA career scoring record?
The record belongs to {n:LeBron James|Kareem Abdul-Jabbar}, who passed {n:Kareem Abdul-Jabbar}.
He broke it in {y:2023}.
The previous mark of {q:38,387} points had stood since {y:1989}.
He went on to pass {q:40,000} points the following season.
@business When was Apple founded?
The company was founded on {d:1 April 1976} by {n:Steve Jobs} and {n:Steve Wozniak}.
Its first product, a hand-built computer, sold for {m:666.66}.
It went public in {y:1980}.
@business How did Amazon start?
The company started in {y:1994} as an online bookstore run from a garage in {n:Bellevue|Seattle}.
Its founder, {n:Jeff Bezos|Bill Gates}, had left a job at a hedge fund.
It went public in {y:1997} at {m:18} a share.
@business How big was the Microsoft acquisition of Activision Blizzard?
The deal was valued at roughly {m:69 billion} and closed in {n:October|July} {y:2023}.
Regulators in {n:Britain|Germany} held it up until the cloud gaming rights were restructured.
It is the largest acquisition in the history of the games industry.
@food What's a basic sourdough recipe?
A basic loaf uses {q:500} grams of flour, {q:350} grams of water and {q:10} grams of salt.
The starter is usually added at {q:20}% of the flour weight.
Bake it at {q:230} degrees {n:Celsius} for roughly {q:40} minutes.
@food How long should I cook a turkey?
A whole turkey is safe to eat once the thickest part reaches {q:165} degrees {n:Fahrenheit}.
Roasting takes roughly {q:15} minutes per pound at {q:325} degrees.
Stuffing cooked inside the bird {x:must also|need not} reach the same temperature.
Let it rest before carving so the juices settle.
@literature How many plays did Shakespeare write?
He wrote roughly {q:37} plays and {q:154} sonnets.
He was born in {n:Stratford-upon-Avon|Oxford|Canterbury} in {y:1564}.
His company performed at the {n:Globe Theatre|Rose Theatre}, built in {y:1599}.
@literature Who wrote Nineteen Eighty-Four and when?
The novel was published in {y:1949} by {n:George Orwell|Aldous Huxley}.
It appeared just {q:7} months before the author's death.
Its vocabulary gave us terms such as thoughtcrime and doublethink.
@literature When did the first Harry Potter book come out?
The first book came out in {y:1997} in the {n:United Kingdom|United States}.
Its author, {n:Joanne Rowling|Enid Blyton}, was turned down by roughly {q:12} publishers.
The first print run was just {q:500} copies.
@environment What does the Paris Agreement require?
The agreement was adopted in {y:2015} and aims to keep warming well below {q:2} degrees.
Countries also pledged to pursue a limit of {q:1.5} degrees.
Each country sets its own targets, which are {x:not|also} legally binding.
@environment How much CO2 is in the atmosphere?
Carbon dioxide in the atmosphere passed {q:420} parts per million in {y:2023}.
Before industrialisation it was roughly {q:280}.
The measurements at {n:Mauna Loa|Mount Etna} began in {y:1958}.
@environment How much of the world's electricity comes from renewables?
Renewables supplied roughly {q:30}% of global electricity in {y:2023}.
Hydropower remains the largest single source among them.
Solar generation grew faster than any other source that year.
@transport How long is the Channel Tunnel?
The tunnel opened in {y:1994} and runs {q:50} kilometres from {n:Folkestone|Dover} to {n:Coquelles}.
Roughly {q:38} kilometres of it lie under the sea.
Trains cover it in roughly {q:35} minutes.
@transport When did the first Shinkansen line open?
The first line opened in {y:1964} between {n:Tokyo|Kyoto} and {n:Osaka|Nagoya}.
Trains now run at up to {q:320} kilometres per hour.
In its long history there has {x:never|once} been a passenger death from a derailment or crash.
@transport How long does a transatlantic flight take?
A flight from {n:London|Paris} to {n:New York|Boston} takes roughly {q:8} hours westbound.
The return leg is usually shorter, at roughly {q:7} hours, thanks to the jet stream.
Timings vary with the season and the route the airline files.
"""
