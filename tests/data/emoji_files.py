"""A tiny stand-in for Noto Color Emoji and Unicode's emoji-test.txt.

CI has neither Noto Color Emoji nor Debian's unicode-data: the font below
draws each emoji as a black polygon of its own shape (the loader renders
at 109 px, so 1000 font units are 109 px and the canvas of one glyph is
about 1470 units wide), and the emoji-test.txt follows Unicode's format.
`write_emoji_files(folder)` writes both and returns `load_emoji`'s
`font_path` and `emoji_test_path`.
"""

from keras_rin.data import EMOJI_GROUPS

_SMILEYS = EMOJI_GROUPS.index("Smileys & Emotion")
_PEOPLE = EMOJI_GROUPS.index("People & Body")
_ANIMALS = EMOJI_GROUPS.index("Animals & Nature")
_FOOD = EMOJI_GROUPS.index("Food & Drink")

EMOJI_TEST = """\
# emoji-test.txt
# Date: 2022-08-12, 20:24:39 GMT
# A few lines of Unicode's file, drawn by the test font.
#
# Format: code points; status # emoji name


# group: Smileys & Emotion

# subgroup: face-smiling
1F600 ; fully-qualified # 😀 E1.0 grinning face
1F603 ; fully-qualified # 😃 E0.6 grinning face with big eyes
1F604 ; fully-qualified # 😄 E0.6 grinning face with smiling eyes
1F601 ; fully-qualified # 😁 E0.6 beaming face with smiling eyes
1F606 ; fully-qualified # 😆 E0.6 grinning squinting face

# subgroup: face-affection
263A FE0F ; fully-qualified # ☺️ E0.6 smiling face
263A ; unqualified # ☺ E0.6 smiling face

# subgroup: face-concerned
2639 ; unqualified # ☹ E0.7 frowning face

# subgroup: face-neutral-skeptical
1F636 200D 1F32B ; minimally-qualified # 😶‍🌫 E13.1 face in clouds

# Smileys & Emotion subtotal:		8

# group: People & Body

# subgroup: hand-fingers-open
1F44B ; fully-qualified # 👋 E0.6 waving hand
1F44B 1F3FB ; fully-qualified # 👋🏻 E1.0 waving hand: light skin tone
1F44B 1F3FC ; fully-qualified # 👋🏼 E1.0 waving hand: medium-light skin tone
1F91A ; fully-qualified # 🤚 E3.0 raised back of hand
1F91A 1F3FB ; fully-qualified # 🤚🏻 E3.0 raised back of hand: light skin tone
270B ; fully-qualified # ✋ E0.6 raised hand
1F590 FE0F ; fully-qualified # 🖐️ E0.7 hand with fingers splayed
1F590 ; unqualified # 🖐 E0.7 hand with fingers splayed
1F590 1F3FB ; fully-qualified # 🖐🏻 E1.0 hand with fingers splayed: light
1F596 ; fully-qualified # 🖖 E1.0 vulcan salute

# subgroup: hands
1F91D ; fully-qualified # 🤝 E3.0 handshake
1FAF1 1F3FB 200D 1FAF2 1F3FC ; fully-qualified # 🫱🏻‍🫲🏼 E14.0 handshake: light

# group: Animals & Nature

# subgroup: animal-mammal
1F436 ; fully-qualified # 🐶 E0.6 dog face
1F431 ; fully-qualified # 🐱 E0.6 cat face
1F98A ; fully-qualified # 🦊 E3.0 fox
1F42D ; fully-qualified # 🐭 E0.6 mouse face
1F43B ; fully-qualified # 🐻 E0.6 bear
1F439 ; fully-qualified # 🐹 E0.6 hamster
1F43C ; fully-qualified # 🐼 E0.6 panda
1F430 ; fully-qualified # 🐰 E0.6 rabbit face

# group: Food & Drink

# subgroup: food-fruit
1F347 ; fully-qualified # 🍇 E0.6 grapes
1F348 ; fully-qualified # 🍈 E0.6 melon

# group: Component

# subgroup: skin-tone
1F3FB ; component # 🏻 E1.0 light skin tone
1F3FC ; component # 🏼 E1.0 medium-light skin tone

# subgroup: hair-style
1F9B0 ; component # 🦰 E11.0 red hair
# Not in Unicode's file: a group that is not one of the nine is skipped.
1F9B0 ; fully-qualified # 🦰 E11.0 red hair

#EOF
"""


def _rect(width, height):
    return [(0, 0), (0, height), (width, height), (width, 0)]


def _triangle(width, height):
    return [(0, 0), (width // 2, height), (width, 0)]


def _diamond(width, height):
    return [
        (width // 2, 0),
        (0, height // 2),
        (width // 2, height),
        (width, height // 2),
    ]


def _pedestal(width, height, thickness=150):
    """An upside-down T: a bar along the bottom, a post up the middle."""
    left, right = (width - thickness) // 2, (width + thickness) // 2
    return [
        (0, 0),
        (0, thickness),
        (left, thickness),
        (left, height),
        (right, height),
        (right, thickness),
        (width, thickness),
        (width, 0),
    ]


# Code point -> outline, in font units (1000 per em, 109 px). Each emoji
# that is kept has a shape of its own; none is square, and the top
# corners of its box are empty, so the corners of every image are white.
GLYPHS = {
    0x1F600: _rect(300, 700),
    0x1F603: _rect(700, 300),
    0x1F604: _triangle(600, 600),
    0x1F601: _triangle(300, 700),
    0x1F606: _rect(200, 600),
    0x263A: _diamond(600, 400),
    0x2639: _pedestal(400, 700),  # Only unqualified: left out.
    0x1F636: _diamond(300, 300),  # Only minimally-qualified: left out.
    0x1F32B: _triangle(300, 200),
    0x1F44B: _rect(500, 700),
    0x1F91A: _triangle(700, 300),
    0x1F590: _rect(400, 800),
    0x270B: _diamond(300, 700),
    0x1F596: _diamond(600, 800),
    0x1F91D: _pedestal(700, 600),
    0x1FAF1: _triangle(300, 500),
    0x1FAF2: _diamond(300, 500),
    # No ligatures: a skin tone is a mark drawn beside its hand.
    0x1F3FB: _rect(100, 200),
    0x1F3FC: _rect(100, 400),
    0x1F436: _rect(800, 500),
    0x1F98A: _rect(800, 500),  # The same drawing as the dog: left out.
    0x1F431: _triangle(800, 400),
    0x1F42D: _diamond(800, 400),
    0x1F43B: [],  # Draws nothing: left out.
    0x1F439: _rect(800, 200),
    0x1F43C: _rect(1700, 300),  # 185 px, wider than the canvas: left out.
    0x1F430: _triangle(500, 800),
    0x1F347: _pedestal(500, 300),
    0x1F348: _triangle(800, 600),
    0x1F9B0: _triangle(200, 800),  # In the Component group: left out.
}
# Space on either side of an outline, in font units.
_SIDE_BEARING = 50


def text_of(code_points):
    return "".join(chr(int(c, 16)) for c in code_points.split())


# What `load_emoji("all")` keeps of EMOJI_TEST, in file order: the emoji
# and their groups.
EXPECTED = [
    ("1F600", _SMILEYS),
    ("1F603", _SMILEYS),
    ("1F604", _SMILEYS),
    ("1F601", _SMILEYS),
    ("1F606", _SMILEYS),
    ("263A FE0F", _SMILEYS),
    ("1F44B", _PEOPLE),
    ("1F91A", _PEOPLE),
    ("270B", _PEOPLE),
    ("1F590 FE0F", _PEOPLE),  # Held out, with its variant.
    ("1F596", _PEOPLE),
    ("1F91D", _PEOPLE),
    ("1F436", _ANIMALS),
    ("1F431", _ANIMALS),
    ("1F42D", _ANIMALS),
    ("1F439", _ANIMALS),
    ("1F430", _ANIMALS),
    ("1F347", _FOOD),
    ("1F348", _FOOD),
]
# With `include_skin_tones=True`, also these, each after its base.
VARIANTS = {
    "1F44B 1F3FB": "1F44B",
    "1F44B 1F3FC": "1F44B",
    "1F91A 1F3FB": "1F91A",
    "1F590 1F3FB": "1F590 FE0F",
    # Its plain emoji is another code point (1F91D).
    "1FAF1 1F3FB 200D 1FAF2 1F3FC": None,
}


def write_font(path):
    from fontTools.fontBuilder import FontBuilder
    from fontTools.pens.ttGlyphPen import TTGlyphPen

    outlines = {".notdef": []}
    outlines.update({f"u{code:X}": outline for code, outline in GLYPHS.items()})
    glyphs, metrics = {}, {}
    for name, outline in outlines.items():
        pen = TTGlyphPen(None)
        if outline:
            points = [(x + _SIDE_BEARING, y) for x, y in outline]
            pen.moveTo(points[0])
            for point in points[1:]:
                pen.lineTo(point)
            pen.closePath()
        glyphs[name] = pen.glyph()
        # The bear draws nothing but takes room; .notdef (zero-width
        # joiners, selectors) takes none.
        width = max((x for x, _ in outline), default=450)
        advance = 0 if name == ".notdef" else width + 2 * _SIDE_BEARING
        metrics[name] = (advance, _SIDE_BEARING if outline else 0)
    builder = FontBuilder(1000, isTTF=True)
    builder.setupGlyphOrder(list(outlines))
    builder.setupCharacterMap({code: f"u{code:X}" for code in GLYPHS})
    builder.setupGlyf(glyphs)
    builder.setupHorizontalMetrics(metrics)
    builder.setupHorizontalHeader(ascent=800, descent=-200)
    builder.setupNameTable({"familyName": "Test Emoji", "styleName": "Flat"})
    builder.setupOS2(
        sTypoAscender=800,
        sTypoDescender=-200,
        usWinAscent=800,
        usWinDescent=200,
    )
    builder.setupPost()
    builder.save(path)


def write_emoji_files(folder):
    """Writes the test font and emoji-test.txt into `folder` (a
    `pathlib.Path`) and returns `load_emoji`'s path arguments."""
    font_path = str(folder / "TestEmoji.ttf")
    write_font(font_path)
    emoji_test_path = str(folder / "emoji-test.txt")
    with open(emoji_test_path, "w", encoding="utf-8") as file:
        file.write(EMOJI_TEST)
    return {"font_path": font_path, "emoji_test_path": emoji_test_path}
