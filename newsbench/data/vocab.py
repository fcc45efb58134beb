"""English vocabularies for the generated news: categories, subcategories (one topic each), fillers, entity names.

Written by hand for newsbench so that a real language model reading a generated title sees real topical meaning: a
`basketball_nba` title is made of basketball words, a `markets` title of market words. Each subcategory is one
*topic* of the planted topic signal (see `newsbench.data.synth`), so a topic is carried by the text and nowhere else.

Category names and shares follow MIND (the shares themselves come from `stats.json`, see `synth.CATEGORY_SHARE`).
Entity names are invented: first names and surnames chosen to be plausible but not famous, combined at random.
"""

from __future__ import annotations

# category -> (words shared by all its subcategories, {subcategory: topic words}). Strings are split on spaces.
CATEGORIES: dict[str, tuple[str, dict[str, str]]] = {
    "news": (
        "report officials update breaking local state county residents",
        {
            "newsus": "nationwide federal governor highway community town mayor citizens neighborhood "
                      "protest volunteers shelter veterans bridge",
            "newspolitics": "senate congress election vote campaign president impeachment democrats republicans "
                            "lawmakers ballot policy debate candidate",
            "newsworld": "foreign embassy diplomats border refugees minister summit treaty ceasefire united nations "
                         "sanctions allies parliament",
            "newscrime": "police arrest suspect shooting murder court trial sentenced robbery investigation "
                         "detectives charges jury prison",
            "newsscienceandtechnology": "scientists research discovery space nasa telescope software robot "
                                        "artificial intelligence smartphone chip data cybersecurity",
            "newseducation": "school students teachers university campus tuition classroom district graduation "
                             "scholarship curriculum principal exam",
            "newsopinion": "opinion column argues why should editorial critics perspective voices essay "
                           "commentary viewpoint letter",
            "newsgoodnews": "heartwarming kindness rescued donation hero grateful surprise community helps "
                            "inspiring stranger reunion smile",
        },
    ),
    "sports": (
        "game season team coach win victory fans players",
        {
            "football_nfl": "quarterback touchdown nfl defense yards sack interception playoffs receiver "
                            "linebacker kickoff gridiron",
            "basketball_nba": "nba dunk rebounds guard forward court buzzer points assists lakers three-pointer "
                              "rookie hoops",
            "baseball_mlb": "pitcher inning homer mlb bullpen shortstop batting slugger world series dugout "
                            "strikeout trade",
            "icehockey_nhl": "hockey nhl goalie puck rink power play overtime skate slapshot penalty ice "
                             "stanley cup",
            "soccer": "soccer striker midfielder penalty kick league goalkeeper transfer stadium premier "
                      "match pitch",
            "golf": "golf birdie putt fairway tour masters bogey caddie green tee swing clubhouse",
            "tennis": "tennis serve ace grand slam racket baseline wimbledon set tiebreak volley clay court",
            "racing": "nascar racing lap pit driver speedway checkered flag engine grid podium crash",
            "football_ncaa": "college bowl heisman recruits conference ranking campus freshman sophomore "
                             "tailgate playoff underdog",
            "more_sports": "marathon boxing wrestling olympics cycling swimmer medal champion ski triathlon "
                           "fight gymnast",
        },
    ),
    "finance": (
        "money market investors economy billion percent financial price",
        {
            "finance-companies": "company earnings ceo shares revenue profit merger acquisition layoffs "
                                 "quarterly corporate board",
            "markets": "stocks dow nasdaq rally selloff bonds yields trading futures index volatility "
                       "bull bear",
            "personalfinance": "savings retirement budget debt credit card mortgage taxes paycheck pension "
                               "loan frugal",
            "realestate": "housing home prices rent buyers listing realtor apartment property downpayment "
                          "landlord condo",
        },
    ),
    "foodanddrink": (
        "food delicious kitchen taste flavor dish meal",
        {
            "recipes": "recipe bake oven ingredients dinner casserole soup roast sauce slow cooker pasta "
                       "skillet",
            "restaurantsandnews": "restaurant chef menu diner opening chain fast food burger pizza closing "
                                  "review dining",
            "drinks": "wine beer cocktail coffee brewery whiskey vineyard bartender tea sommelier craft "
                      "champagne",
            "foodnews": "grocery recall snack dessert chocolate thanksgiving turkey pie candy cheese bread "
                        "vegan",
        },
    ),
    "lifestyle": (
        "life people style tips ideas everyday",
        {
            "lifestylehomeandgarden": "garden home decor furniture cleaning plants backyard renovation "
                                      "kitchen bedroom organize paint",
            "lifestyleparenting": "parents kids baby toddler mom dad family childhood parenting school "
                                  "bedtime teenager",
            "lifestyleroyals": "royal prince princess queen palace duke duchess crown wedding monarchy "
                               "kensington tiara",
            "lifestylestyle": "fashion outfit dress shoes designer trend makeup beauty hairstyle jeans "
                              "wardrobe runway",
            "lifestylepets": "dog cat puppy kitten adoption pet shelter veterinarian breed rescue leash "
                             "furry",
        },
    ),
    "weather": (
        "weather forecast temperatures degrees meteorologists",
        {
            "weathertopstories": "storm snow rain winds hurricane tornado flood blizzard freezing ice "
                                 "thunderstorm warning",
            "weatherclimate": "climate warming drought wildfire heatwave emissions glacier sea level "
                              "carbon season record",
        },
    ),
    "video": (
        "video watch footage camera clip filmed",
        {
            "viral": "viral internet hilarious prank challenge reaction dance stunt trending moment "
                     "amazing unbelievable",
            "animals": "bear whale elephant wildlife zoo bird lion shark deer ocean jungle owl",
            "peopleandplaces": "village festival crowd street mountain river sunset tradition journey "
                               "ceremony market bridge",
        },
    ),
    "travel": (
        "travel trip destination visitors vacation",
        {
            "travelnews": "airline flight airport passengers cruise tourism delays tsa pilot luggage "
                          "booking terminal",
            "traveltips": "packing hotel deals budget itinerary passport points miles guide insider "
                          "cheap weekend",
            "adventuretravel": "hiking national park island beach trail camping road trip scenic lodge "
                               "canyon kayak",
        },
    ),
    "health": (
        "health doctors study patients medical",
        {
            "medical": "cancer hospital disease treatment surgery vaccine diagnosis symptoms virus "
                       "infection drug heart",
            "fitness": "workout exercise running gym muscles strength cardio yoga weight training "
                       "stretching squats",
            "nutrition": "diet protein sugar vitamins calories healthy eating fiber breakfast keto "
                         "vegetables fats",
            "mentalhealth": "stress anxiety depression sleep mindfulness therapy mood burnout wellbeing "
                            "loneliness calm brain",
        },
    ),
    "autos": (
        "car vehicle driving automaker model",
        {
            "autosnews": "recall dealership sales pickup truck suv fleet factory tariffs gasoline "
                         "safety crash",
            "autosreviews": "review horsepower sedan interior mileage handling test drive torque trim "
                            "hatchback engine",
            "autosenthusiasts": "electric battery charging tesla hybrid autonomous sports car classic "
                                "restoration concept prototype",
        },
    ),
    "music": (
        "music song album singer band",
        {
            "musicnews": "tour concert rapper country pop rock guitar lyrics single festival stage "
                         "debut",
            "musicawards": "grammy awards nominations performance billboard chart hit vocals duet "
                           "tribute anthem legend",
        },
    ),
    "tv": (
        "tv show series episode network",
        {
            "tvnews": "season finale premiere ratings sitcom cancelled renewed host late night cast "
                      "streaming spinoff",
            "tv-reality": "reality contestant bachelor voted eliminated competition judges dancing "
                          "survivor drama rose",
            "tv-drama": "drama characters plot twist showrunner crime thriller mystery cliffhanger "
                        "writers spoilers villain",
        },
    ),
    "movies": (
        "movie film box office cinema",
        {
            "movienews": "trailer sequel studio director casting release franchise superhero blockbuster "
                         "marvel star wars",
            "moviereviews": "review critics oscar performance screenplay actor actress drama comedy horror "
                            "rating masterpiece",
        },
    ),
    "entertainment": (
        "celebrity star famous hollywood entertainment",
        {
            "celebrity": "couple divorce dating engaged red carpet paparazzi instagram birthday "
                         "interview gossip baby",
            "entertainment-awards": "awards gala honored ceremony nominated hosts speech trophy "
                                    "winners glamorous presenters stage",
        },
    ),
    "kids": (
        "kids children fun family",
        {
            "kidsfamily": "cartoon toys games puzzle crafts playground storybook learning science "
                          "animals holiday party",
        },
    ),
}

# Words that carry no topic: they make titles read like titles and dilute the topic words, so text is informative
# but not trivially so.
FILLERS = (
    "the a of to in for on with after at as by from new says how why what this year first best "
    "more could will after just over about into top big day week time now here still back again "
    "amid ahead latest could finally really major huge all inside"
).split()

# Entity name parts (invented combinations). Types follow MIND's single letters: P person, O organisation, G place.
FIRST_NAMES = (
    "Adela Bram Corin Dalia Emrys Fenna Galen Hollis Ines Jory Kasia Lorcan Maren Nilo Odessa Perrin Quill "
    "Rosalind Soren Tamsin Ulric Vesna Wynn Xavi Yara Zeno Anouk Bastian Celeste Dorian Elowen Florin Greta "
    "Henrik Isolde Jasper Kenna Leander Mirela Niamh Oskar Petra Rafferty Saskia Tobias Una Valen Wilhelmina "
    "Yusra Zoltan Amaris Beckett Cosima Dashiell Esme Fabian Giselle Hugo Ilse Joaquin Katya Lysander Marguerite "
    "Nico Orla Pascal Rhiannon Stellan Thea Ugo Vivienne Wolfe Ximena Yannick Zara Alaric Brielle"
).split()
SURNAMES = (
    "Ashgrove Brannock Calloway Delacourt Everhart Fairweather Galloway Harrowgate Ingleby Jessop Kettering "
    "Lindqvist Marchetti Northcott Oakhurst Pellegrino Quarrington Ravensworth Stanhope Thistlewood Underhill "
    "Vandermeer Whitcombe Yardley Zellweger Abernathy Blackwood Castellano Drummond Eastwick Fenwick Grimshaw "
    "Hawthorne Ivers Jankowski Kilbride Lockhart Merriweather Nettleton Ollerton Penhaligon Quennell Rothwell "
    "Sinclairson Tremayne Upshaw Vellacott Wetherby Yelverton Zabriskie Ainsley Bellweather Corriveau "
    "Dunmore Ellsworth Foxcroft Goldthorpe Holloway Iverson Jolliffe Kingsmill Larkspur Mortimer Nightingale "
    "Ormsby Pemberton Quimby Redgrave Silverton Thornbury Umberto Valcourt Winterbourne Yorke Zimmerly Altmann"
).split()
ORG_SUFFIXES = (
    "Holdings Group Labs Motors Partners Foundation United Media Capital Systems Energy Studios Athletic "
    "Records Bank Airlines"
).split()
PLACE_PREFIXES = "Port Lake North East West Mount Fort New Glen Cape".split()


def subcategory_topics() -> list[tuple[str, str, list[str]]]:
    """(category, subcategory, topic words) for every subcategory, in a fixed order: the topic index is the position."""
    return [(cat, sub, words.split()) for cat, (_, subs) in CATEGORIES.items() for sub, words in subs.items()]


def category_words(category: str) -> list[str]:
    return CATEGORIES[category][0].split()
