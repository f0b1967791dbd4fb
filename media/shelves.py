"""The library's shelves: which miniatures go on which, in what order, and what people read
for each ("older woman, medium skin tone").

Shelves are the ones children reach for in a sand tray, written as lists of the set's names
(read off its categories in ``metadata.json``): people of every age and skin tone, families,
jobs, feelings, animals, monsters and magic, buildings, vehicles, nature, fences, bridges and
paths, everyday things, food, toys. Flags, keycaps, signs and most hand gestures are left
out; a name may be on two shelves (a snake is an animal and frightening). No I/O here.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Set
from dataclasses import dataclass

from media import stickers

TONES = ("light", "medium-light", "medium", "medium-dark", "dark")


@dataclass(frozen=True)
class Shelf:
    """A shelf of the library: what one tab shows, in order."""

    id: str
    label: str
    short: str  # for its tab: a word of ``label``
    icon: str  # the miniature its tab shows
    names: tuple[str, ...]


@dataclass(frozen=True)
class _Spec:
    """A shelf as written here: ``names`` are words, each bringing its skin-tone variants
    after it; "+job" stands for job, person-job, woman-job and man-job (those the set has)."""

    id: str
    label: str
    short: str
    icon: str
    names: str


# fmt: off
SHELVES = (
    _Spec("people", "People", "People", "person", """
        baby child girl boy person woman man older-person old-woman old-man
        +blonde-hair +red-hair +curly-hair +white-hair +bald +beard woman-with-headscarf
        +wearing-turban person-with-skullcap +deaf +in-manual-wheelchair
        +in-manual-wheelchair-facing-right +in-motorized-wheelchair
        +in-motorized-wheelchair-facing-right +with-white-cane +with-white-cane-facing-right
        +standing +kneeling +kneeling-facing-right +walking +walking-facing-right +running
        +running-facing-right +dancing +cartwheeling +juggling +climbing +biking
        +mountain-biking +swimming +surfing +rowing-boat +bouncing-ball +playing-handball
        +playing-water-polo +golfing +lifting-weights +wrestling person-fencing horse-racing
        skier snowboarder +in-lotus-position +in-steamy-room person-taking-bath person-in-bed
        +getting-haircut +getting-massage speaking-head bust-in-silhouette busts-in-silhouette
    """),
    _Spec("families", "Families", "Families", "people-hugging", """
        family people-hugging baby child girl boy woman man older-person old-woman old-man
        pregnant-woman pregnant-man pregnant-person breast-feeding +feeding-baby +with-veil
        +in-tuxedo wedding house-with-garden baby-bottle
    """),
    _Spec("jobs", "Jobs", "Jobs", "firefighter", """
        +health-worker +police-officer +firefighter +teacher +student +judge +guard
        +detective +construction-worker +mechanic +factory-worker +farmer +cook +scientist
        +technologist +office-worker +artist +singer +pilot +astronaut
    """),
    _Spec("feelings", "Feelings", "Feelings", "grinning-face", """
        grinning-face smiling-face-with-smiling-eyes slightly-smiling-face relieved-face
        face-with-tears-of-joy beaming-face-with-smiling-eyes grinning-face-with-big-eyes
        grinning-face-with-smiling-eyes grinning-face-with-sweat grinning-squinting-face
        rolling-on-the-floor-laughing smiling-face smiling-face-with-halo
        smiling-face-with-heart-eyes smiling-face-with-hearts smiling-face-with-sunglasses
        smiling-face-with-tear star-struck partying-face hugging-face winking-face
        upside-down-face melting-face zany-face face-with-tongue squinting-face-with-tongue
        winking-face-with-tongue face-savoring-food face-blowing-a-kiss kissing-face
        kissing-face-with-closed-eyes kissing-face-with-smiling-eyes thinking-face
        face-with-monocle nerd-face cowboy-hat-face disguised-face face-with-raised-eyebrow
        neutral-face expressionless-face face-without-mouth dotted-line-face
        face-with-diagonal-mouth face-in-clouds smirking-face unamused-face
        face-with-rolling-eyes grimacing-face lying-face shushing-face zipper-mouth-face
        face-with-hand-over-mouth face-with-open-eyes-and-hand-over-mouth face-with-peeking-eye
        saluting-face pensive-face sleepy-face sleeping-face yawning-face tired-face
        weary-face drooling-face face-exhaling woozy-face face-with-spiral-eyes exploding-head
        shaking-face head-shaking-horizontally head-shaking-vertically frowning-face
        slightly-frowning-face confused-face worried-face disappointed-face sad-but-relieved-face
        pleading-face face-holding-back-tears crying-face loudly-crying-face
        downcast-face-with-sweat anxious-face-with-sweat fearful-face face-screaming-in-fear
        anguished-face frowning-face-with-open-mouth astonished-face hushed-face
        face-with-open-mouth flushed-face confounded-face persevering-face angry-face
        pouting-face face-with-steam-from-nose face-with-symbols-on-mouth hot-face cold-face
        nauseated-face face-vomiting sneezing-face face-with-thermometer
        face-with-head-bandage face-with-medical-mask money-mouth-face knocked-out-face
        grinning-cat grinning-cat-with-smiling-eyes cat-with-tears-of-joy
        smiling-cat-with-heart-eyes cat-with-wry-smile kissing-cat weary-cat crying-cat
        pouting-cat see-no-evil-monkey hear-no-evil-monkey speak-no-evil-monkey
        +frowning +pouting +gesturing-no +gesturing-ok +tipping-hand +raising-hand +bowing
        +facepalming +shrugging red-heart orange-heart yellow-heart green-heart blue-heart
        light-blue-heart purple-heart brown-heart black-heart grey-heart white-heart pink-heart
        broken-heart mending-heart heart-on-fire two-hearts beating-heart growing-heart
        sparkling-heart revolving-hearts anger-symbol collision dizzy sweat-droplets
        dashing-away zzz speech-balloon thought-balloon right-anger-bubble pile-of-poo
    """),
    _Spec("animals", "Animals", "Animals", "dog-face", """
        dog dog-face poodle guide-dog service-dog cat cat-face black-cat rabbit rabbit-face
        hamster mouse mouse-face rat horse horse-face cow cow-face ox water-buffalo pig pig-face
        boar ewe ram goat donkey chicken rooster baby-chick hatching-chick
        front-facing-baby-chick duck goose swan turkey dove bird blackbird parrot owl eagle
        flamingo peacock penguin dodo fox wolf bear polar-bear panda koala raccoon badger
        skunk otter beaver hedgehog chipmunk sloth bat monkey monkey-face gorilla orangutan
        lion tiger tiger-face leopard zebra giraffe elephant mammoth rhinoceros hippopotamus
        camel two-hump-camel llama kangaroo deer moose bison frog turtle lizard crocodile
        snake t-rex sauropod whale spouting-whale dolphin seal fish tropical-fish blowfish
        shark octopus jellyfish crab lobster shrimp squid snail butterfly bug ant honeybee
        beetle lady-beetle cricket cockroach spider scorpion mosquito fly worm
    """),
    _Spec("monsters", "Monsters and magic", "Monsters", "dragon-face", """
        dragon dragon-face unicorn phoenix-bird ghost ogre goblin troll alien alien-monster
        robot +mage +fairy +elf +genie +merpeople +vampire +zombie +superhero +supervillain
        ninja prince princess person-with-crown person-in-suit-levitating baby-angel
        santa-claus mrs-claus mx-claus clown-face angry-face-with-horns smiling-face-with-horns
        jack-o-lantern skull skull-and-crossbones spider spider-web snake shark scorpion
        crocodile wolf bat t-rex bomb coffin headstone crown magic-wand crystal-ball
        crossed-swords dagger bow-and-arrow shield pirate-flag flying-saucer moai
    """),
    _Spec("buildings", "Buildings", "Buildings", "house", """
        house houses house-with-garden derelict-house hut tent camping castle japanese-castle
        classical-building church mosque synagogue hindu-temple shinto-shrine school hospital
        hotel bank office-building department-store convenience-store post-office factory
        stadium building-construction cityscape cityscape-at-dusk night-with-stars circus-tent
        statue-of-liberty tokyo-tower wedding fountain ferris-wheel roller-coaster
        carousel-horse playground-slide barber-pole station bus-stop fuel-pump postbox
        beach-with-umbrella door window
    """),
    _Spec("vehicles", "Vehicles", "Vehicles", "automobile", """
        automobile oncoming-automobile taxi oncoming-taxi police-car oncoming-police-car
        ambulance fire-engine bus oncoming-bus minibus trolleybus racing-car pickup-truck
        sport-utility-vehicle delivery-truck articulated-lorry tractor motorcycle motor-scooter
        auto-rickshaw bicycle kick-scooter skateboard roller-skate manual-wheelchair
        motorized-wheelchair locomotive railway-car train high-speed-train bullet-train metro
        light-rail monorail tram tram-car mountain-railway suspension-railway
        mountain-cableway aerial-tramway airplane small-airplane airplane-departure
        airplane-arrival helicopter parachute rocket satellite flying-saucer sailboat canoe
        speedboat motor-boat ferry passenger-ship ship anchor ring-buoy
    """),
    _Spec("nature", "Nature", "Nature", "deciduous-tree", """
        deciduous-tree evergreen-tree palm-tree christmas-tree cactus seedling potted-plant
        herb shamrock four-leaf-clover sheaf-of-rice maple-leaf fallen-leaf
        leaf-fluttering-in-wind sunflower tulip rose hibiscus cherry-blossom blossom
        white-flower hyacinth lotus bouquet wilted-flower mushroom brown-mushroom chestnut
        feather nest-with-eggs empty-nest spiral-shell coral rock wood hole mountain
        snow-capped-mountain mount-fuji volcano desert desert-island national-park sunrise
        sunrise-over-mountains sunset sun sun-with-face sun-behind-small-cloud
        sun-behind-cloud sun-behind-large-cloud sun-behind-rain-cloud cloud cloud-with-rain
        cloud-with-snow cloud-with-lightning cloud-with-lightning-and-rain rainbow
        umbrella-with-rain-drops snowflake snowman snowman-without-snow ice tornado cyclone
        fog wind-face droplet water-wave bubbles fire high-voltage crescent-moon full-moon
        new-moon first-quarter-moon last-quarter-moon waxing-crescent-moon waxing-gibbous-moon
        waning-gibbous-moon waning-crescent-moon full-moon-face new-moon-face
        first-quarter-moon-face last-quarter-moon-face star glowing-star shooting-star comet
        ringed-planet milky-way globe-showing-europe-africa globe-showing-americas
        globe-showing-asia-australia
    """),
    _Spec("paths", "Fences, bridges and paths", "Paths", "bridge-at-night", """
        bridge-at-night construction building-construction brick wood rock railway-track
        motorway ladder chains broken-chain link vertical-traffic-light
        horizontal-traffic-light stop-sign police-car-light warning no-entry children-crossing
        footprints paw-prints door locked unlocked key old-key hole oil-drum placard
        triangular-flag chequered-flag world-map compass water-wave
    """),
    _Spec("things", "Everyday things", "Things", "backpack", """
        bed chair couch-and-lamp bathtub shower toilet door window mirror candle
        light-bulb flashlight mantelpiece-clock alarm-clock hourglass-done television radio
        telephone mobile-phone laptop desktop-computer keyboard computer-mouse printer camera
        video-camera headphone loudspeaker microphone bell key old-key locked unlocked
        books open-book closed-book blue-book green-book orange-book notebook newspaper
        envelope love-letter package wrapped-gift pencil crayon pen paintbrush scissors
        straight-ruler backpack briefcase handbag purse clutch-bag shopping-bags shopping-cart
        basket broom bucket sponge soap toothbrush roll-of-paper plunger wastebasket
        umbrella closed-umbrella glasses sunglasses goggles t-shirt jeans dress coat scarf
        gloves socks kimono sari one-piece-swimsuit shorts billed-cap top-hat graduation-cap
        womans-hat crown ring gem-stone lipstick mans-shoe running-shoe hiking-boot
        womans-boot high-heeled-shoe flat-shoe ballet-shoes womans-sandal thong-sandal
        luggage hammer wrench screwdriver carpentry-saw axe pick toolbox
        magnet gear ladder fire-extinguisher adhesive-bandage stethoscope syringe pill
        crutch drop-of-blood thermometer microscope telescope magnifying-glass-tilted-left
        coin money-bag dollar-banknote credit-card teddy-bear balloon cigarette
        balance-scale hook knot
    """),
    _Spec("food", "Food and drink", "Food", "red-apple", """
        red-apple green-apple pear tangerine lemon lime banana watermelon grapes strawberry
        blueberries melon cherries peach mango pineapple coconut kiwi-fruit tomato olive
        avocado eggplant potato carrot ear-of-corn hot-pepper bell-pepper cucumber leafy-green
        broccoli garlic onion peanuts beans pea-pod ginger-root bread croissant
        baguette-bread flatbread pretzel bagel pancakes waffle cheese-wedge egg cooking butter
        meat-on-bone poultry-leg cut-of-meat bacon hamburger french-fries pizza hot-dog
        sandwich taco burrito tamale stuffed-flatbread falafel green-salad pot-of-food
        shallow-pan-of-food fondue spaghetti steaming-bowl curry-rice cooked-rice rice-ball
        rice-cracker sushi bento-box dumpling oden fish-cake-with-swirl fried-shrimp dango
        moon-cake fortune-cookie takeout-box canned-food popcorn salt bowl-with-spoon
        soft-ice-cream shaved-ice ice-cream doughnut cookie birthday-cake shortcake cupcake
        pie chocolate-bar candy lollipop custard honey-pot baby-bottle glass-of-milk
        hot-beverage teapot teacup-without-handle cup-with-straw bubble-tea beverage-box mate
        tumbler-glass pouring-liquid tropical-drink beer-mug wine-glass
        bottle-with-popping-cork fork-and-knife fork-and-knife-with-plate spoon chopsticks
        kitchen-knife jar
    """),
    _Spec("toys", "Toys and games", "Toys", "teddy-bear", """
        teddy-bear balloon kite yo-yo game-die puzzle-piece chess-pawn joystick video-game
        nesting-dolls japanese-dolls soccer-ball basketball american-football rugby-football
        baseball softball volleyball tennis ping-pong badminton cricket-game field-hockey
        ice-hockey lacrosse flying-disc bowling pool-8-ball goal-net boxing-glove
        martial-arts-uniform ice-skate skis sled curling-stone diving-mask fishing-pole
        flag-in-hole bullseye trophy 1st-place-medal 2nd-place-medal 3rd-place-medal
        sports-medal wrapped-gift party-popper confetti-ball fireworks sparkler sparkles
        performing-arts artist-palette framed-picture ticket yarn thread magic-wand
        crystal-ball mirror-ball drum long-drum guitar violin trumpet saxophone flute banjo
        accordion maracas musical-keyboard musical-notes skateboard roller-skate kick-scooter
        carousel-horse playground-slide ferris-wheel roller-coaster circus-tent piata
    """),
)
# fmt: on


def arrange(known: Set[str], hidden: Set[str]) -> tuple[tuple[Shelf, ...], list[str]]:
    """The shelves, of the names the set has (``known``) and the old drawings; and the
    words of ``SHELVES`` that found nothing. A hidden icon (kept by the set for old
    references) is never on a shelf."""
    missing: list[str] = []
    shelves = tuple(
        Shelf(
            spec.id,
            spec.label,
            spec.short,
            spec.icon,
            tuple(_names(spec.names, known, hidden, missing)),
        )
        for spec in SHELVES
    )
    return shelves, missing


def _names(spec: str, known: Set[str], hidden: Set[str], missing: list[str]) -> Iterator[str]:
    """The names of one shelf, each followed by its skin-tone variants."""
    seen: set[str] = set()
    for word in spec.split():
        if word.startswith("+"):
            forms = [f"{who}{word[1:]}" for who in ("", "person-", "woman-", "man-")]
            names = [n for n in forms if n in known]
        else:
            names = [word] if word in known or word in stickers.NAMES else []
        if not names:
            missing.append(word)
        for name in names:
            for each in (name, *(f"{name}-{tone}" for tone in TONES)):
                if each in seen or (each != name and (each not in known or each in hidden)):
                    continue
                seen.add(each)
                yield each


def tone(name: str, known: Set[str]) -> tuple[str, str | None]:
    """``name`` without its skin tone, and the tone (None for none)."""
    for tone in sorted(TONES, key=len, reverse=True):  # medium-dark before dark
        base = name.removesuffix(f"-{tone}")
        if base != name and all(f"{base}-{t}" in known for t in TONES):
            return base, tone
    return name, None


_LABELS = {
    "old-man": "older man",
    "old-woman": "older woman",
    "person-merpeople": "merperson",
    "woman-merpeople": "mermaid",
    "man-merpeople": "merman",
    "piata": "piñata",
    "t-rex": "T. rex",
    "jack-o-lantern": "jack-o'-lantern",
    "santa-claus": "Father Christmas",
    "mrs-claus": "Mother Christmas",
    "mx-claus": "Mx Claus",
    "1st-place-medal": "gold medal",
    "2nd-place-medal": "silver medal",
    "3rd-place-medal": "bronze medal",
    "t-shirt": "T-shirt",
    "mount-fuji": "Mount Fuji",
    "statue-of-liberty": "Statue of Liberty",
    "tokyo-tower": "Tokyo Tower",
    "family": "family",
}
_LOOKS = {
    "blonde-hair": "{} with blonde hair",
    "red-hair": "{} with red hair",
    "curly-hair": "{} with curly hair",
    "white-hair": "{} with white hair",
    "bald": "bald {}",
    "beard": "{} with a beard",
    "deaf": "deaf {}",
}


def label(name: str, known: Set[str]) -> str:
    """What people read for ``name``: "older woman, medium skin tone"."""
    base, skin = tone(name, known)
    text = _LABELS.get(base)
    if text is None:
        who, _, look = base.partition("-")
        if who in ("person", "woman", "man") and look in _LOOKS:
            text = _LOOKS[look].format(who)
        else:
            text = re.sub(r"\b(wo)?mans\b", r"\1man's", base.replace("-", " "))
    return f"{text}, {skin} skin tone" if skin else text
