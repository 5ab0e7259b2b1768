"""The demo grammar: a small probabilistic grammar of English-like sentences.

It generates both the ``demo`` corpus and the ``demo-pairs`` minimal pairs, so
the whole pipeline can run offline. The grammar covers the phenomena that
BLiMP-style evaluations probe:

- subject-verb agreement, also across a prepositional phrase or a relative
  clause whose noun has the other number (an *attractor*);
- determiner-noun agreement (``this cat`` / ``these cats``);
- reflexive agreement in gender and number (``himself/herself/themselves``);
- negative-polarity items: ``ever`` needs ``no`` or a question, ``any`` needs
  ``never``/``not`` or a question;
- filler-gap dependencies: ``knows what the girl saw .`` has a gap,
  ``knows that the girl saw the cat .`` does not.

Every sentence is lower case, words and punctuation separated by single
spaces. Each minimal pair differs in exactly one word.

Held-out guarantee: every sentence is assigned to the corpus or the
evaluation side by a hash of its text (:func:`is_heldout`). The corpus never
contains a held-out sentence and every pair's good sentence is held out, so
no pair is ever seen in training, whatever the seeds. The corpus still holds
many grammatical sentences of each construction, so the contrasts are
learnable.
"""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from babybench.io import atomic_write_text

GRAMMAR_VERSION = 1
HELDOUT_BUCKETS = 8  # 1 in 8 sentences (by hash) is reserved for evaluation


# ------------------------------------------------------------------ lexicon
@dataclass(frozen=True)
class Noun:
    """A noun with its two forms; ``kind`` is person/animal/thing, gender m/f/None."""

    sg: str
    pl: str
    kind: str
    gender: str | None = None

    def form(self, num: str) -> str:
        return self.sg if num == "sg" else self.pl


@dataclass(frozen=True)
class Verb:
    """A verb's base, third-person singular present, past and participle forms."""

    base: str
    s3: str
    past: str
    pp: str

    def present(self, num: str) -> str:
        return self.s3 if num == "sg" else self.base


def _nouns(kind: str, gender: str | None, spec: str) -> list[Noun]:
    # spec: "boy boys, man men, ..."
    return [Noun(*pair.split(), kind=kind, gender=gender) for pair in spec.split(", ")]


MALE = _nouns("person", "m", "boy boys, man men, king kings, father fathers, brother brothers, "
              "prince princes, uncle uncles, son sons, wizard wizards, knight knights")
FEMALE = _nouns("person", "f", "girl girls, woman women, queen queens, mother mothers, "
                "sister sisters, princess princesses, aunt aunts, daughter daughters, "
                "witch witches, lady ladies")
NEUTRAL = _nouns("person", None, "teacher teachers, doctor doctors, student students, "
                 "farmer farmers, pilot pilots, child children, baker bakers, singer singers, "
                 "dancer dancers, author authors, lawyer lawyers, nurse nurses, cook cooks, "
                 "guard guards, driver drivers, friend friends")
ANIMALS = _nouns("animal", None, "dog dogs, cat cats, horse horses, bird birds, mouse mice, "
                 "fox foxes, wolf wolves, rabbit rabbits, frog frogs, bear bears, lion lions, "
                 "duck ducks, goat goats, snake snakes")
THINGS = _nouns("thing", None, "book books, car cars, box boxes, key keys, cake cakes, "
                "apple apples, song songs, letter letters, picture pictures, ball balls, "
                "hat hats, chair chairs, table tables, door doors, cup cups, boat boats, "
                "house houses, tree trees, flower flowers, coin coins")
PEOPLE = MALE + FEMALE + NEUTRAL
ANIMATE = PEOPLE + ANIMALS
ALL_NOUNS = ANIMATE + THINGS


def _verbs(spec: str) -> list[Verb]:
    return [Verb(*v.split()) for v in spec.split(", ")]


# Transitive verbs always need an object: that is what makes a gap detectable.
TRANSITIVE = _verbs("see sees saw seen, like likes liked liked, find finds found found, "
                    "chase chases chased chased, help helps helped helped, "
                    "watch watches watched watched, follow follows followed followed, "
                    "visit visits visited visited, want wants wanted wanted, "
                    "love loves loved loved, carry carries carried carried, "
                    "take takes took taken, draw draws drew drawn, hold holds held held")
# Verbs whose object may be the subject itself (reflexives).
REFLEXIVE_VERBS = _verbs("see sees saw seen, like likes liked liked, help helps helped helped, "
                         "praise praises praised praised, blame blames blamed blamed, "
                         "hurt hurts hurt hurt, trust trusts trusted trusted, "
                         "wash washes washed washed, love loves loved loved")
INTRANSITIVE = _verbs("sleep sleeps slept slept, run runs ran run, laugh laughs laughed laughed, "
                      "smile smiles smiled smiled, swim swims swam swum, sing sings sang sung, "
                      "dance dances danced danced, wait waits waited waited, "
                      "cry cries cried cried, arrive arrives arrived arrived, "
                      "jump jumps jumped jumped, rest rests rested rested")
# Verbs that take a clause: "knows that ..." or "knows what ...".
CLAUSAL = _verbs("know knows knew known, remember remembers remembered remembered, "
                 "forget forgets forgot forgotten, say says said said, hear hears heard heard")
ADJECTIVES = ("big small old young happy sad red green tall quiet clever lazy brave "
              "kind angry funny").split()
PREPOSITIONS = "near behind beside with above under".split()
ADVERBS = "often always sometimes never".split()  # "never" licenses "any"
DETS = {"sg": ["the", "the", "a", "this", "every"], "pl": ["the", "the", "these", "some", "many"]}
REFLEXIVE = {("sg", "m"): "himself", ("sg", "f"): "herself", ("pl", None): "themselves"}
HAVE = {"sg": "has", "pl": "have"}
DO = {"sg": "does", "pl": "do"}


def _num(rng: random.Random) -> str:
    return rng.choice(("sg", "pl"))


def _other(num: str) -> str:
    return "pl" if num == "sg" else "sg"


def is_heldout(sentence: str) -> bool:
    """True if ``sentence`` is reserved for evaluation (never in the corpus)."""
    digest = hashlib.md5(sentence.encode("utf-8")).digest()
    return digest[0] % HELDOUT_BUCKETS == 0


# ------------------------------------------------------------------ phrases
def _np(rng: random.Random, num: str, nouns: list[Noun], det: str | None = None,
        adj_p: float = 0.25) -> tuple[list[str], Noun]:
    """A plain noun phrase: determiner, optional adjective, noun."""
    noun = rng.choice(nouns)
    words = [det or rng.choice(DETS[num])]
    if rng.random() < adj_p:
        words.append(rng.choice(ADJECTIVES))
    return words + [noun.form(num)], noun


def _attractor(rng: random.Random, num: str, kind: str) -> list[str]:
    """A modifier of a subject of number ``num`` holding a noun of the other number."""
    other = _other(num)
    if kind == "pp":
        return [rng.choice(PREPOSITIONS)] + _np(rng, other, ALL_NOUNS, adj_p=0.1)[0]
    obj, _ = _np(rng, other, ANIMATE, adj_p=0.1)
    verb = rng.choice(TRANSITIVE)
    if rng.random() < 0.5:  # object relative: "who the cats chase" (gap after the verb)
        return ["who"] + obj + [verb.present(other)]
    return ["who", verb.present(num)] + obj  # subject relative: "who chases the cats"


def _subject(rng: random.Random, num: str, nouns: list[Noun] = ANIMATE,
             attractor: str | None = "random", det: str | None = None) -> tuple[list[str], Noun]:
    """A subject NP, possibly with a PP or relative-clause attractor."""
    words, noun = _np(rng, num, nouns, det=det)
    if attractor == "random":
        attractor = rng.choices([None, "pp", "rc"], weights=[0.75, 0.15, 0.1])[0]
    if attractor:
        words += _attractor(rng, num, attractor)
    return words, noun


def _object(rng: random.Random) -> list[str]:
    return _np(rng, _num(rng), ALL_NOUNS)[0]


# ------------------------------------------------------------------ sentence kinds
def s_intransitive(rng: random.Random) -> list[str]:
    num = _num(rng)
    subj, _ = _subject(rng, num)
    adv = [rng.choice(ADVERBS)] if rng.random() < 0.3 else []
    return subj + adv + [rng.choice(INTRANSITIVE).present(num), "."]


def s_transitive(rng: random.Random) -> list[str]:
    """Present or past transitive clause; ``never`` may license an ``any`` object."""
    num = _num(rng)
    subj, _ = _subject(rng, num)
    verb = rng.choice(TRANSITIVE)
    adv = rng.choice(ADVERBS) if rng.random() < 0.5 else None
    form = verb.past if rng.random() < 0.25 else verb.present(num)
    obj_num = _num(rng)
    det = "any" if adv == "never" and rng.random() < 0.5 else None
    obj = _np(rng, obj_num, ALL_NOUNS, det=det)[0]
    return subj + ([adv] if adv else []) + [form] + obj + ["."]


def s_perfect(rng: random.Random) -> list[str]:
    """``no N has ever seen ...`` / ``the N has often seen ...``."""
    num = _num(rng)
    negative = rng.random() < 0.4
    subj, _ = _subject(rng, num, det="no" if negative else None)
    advs = ["ever", "ever", "never", "often"] if negative else ["often", "always", "never", None]
    adv = rng.choice(advs)
    return subj + [HAVE[num]] + ([adv] if adv else []) + [rng.choice(TRANSITIVE).pp] + _object(rng) + ["."]


def s_negated(rng: random.Random) -> list[str]:
    """``the N does not see any cats .`` (``any`` licensed by ``not``)."""
    num = _num(rng)
    subj, _ = _subject(rng, num)
    obj_num = _num(rng)
    det = "any" if rng.random() < 0.5 else None
    obj = _np(rng, obj_num, ALL_NOUNS, det=det)[0]
    return subj + [DO[num], "not", rng.choice(TRANSITIVE).base] + obj + ["."]


def s_question(rng: random.Random) -> list[str]:
    """Yes/no questions license ``ever`` and ``any``."""
    num = _num(rng)
    subj, _ = _subject(rng, num, attractor=None)
    verb = rng.choice(TRANSITIVE)
    obj = _np(rng, _num(rng), ALL_NOUNS, det="any" if rng.random() < 0.4 else None)[0]
    ever = ["ever"] if rng.random() < 0.5 else []
    if rng.random() < 0.5:
        return [HAVE[num]] + subj + ever + [verb.pp] + obj + ["?"]
    return [DO[num]] + subj + ever + [verb.base] + obj + ["?"]


def s_reflexive(rng: random.Random) -> list[str]:
    """``the king near the girls praises himself .``"""
    num = _num(rng)
    nouns = MALE + FEMALE if num == "sg" else PEOPLE
    subj, noun = _subject(rng, num, nouns=nouns)
    refl = REFLEXIVE[(num, noun.gender if num == "sg" else None)]
    return subj + [rng.choice(REFLEXIVE_VERBS).present(num), refl, "."]


def _embedded(rng: random.Random, gap: bool) -> list[str]:
    """An embedded clause with a transitive verb, with or without its object."""
    num = _num(rng)
    subj, _ = _np(rng, num, ANIMATE)
    verb = rng.choice(TRANSITIVE)
    form = verb.past if rng.random() < 0.5 else verb.present(num)
    return subj + [form] + ([] if gap else _object(rng))


def s_embedding(rng: random.Random) -> list[str]:
    """``the boy knows what the girl saw .`` / ``... that the girl saw the cat .``"""
    num = _num(rng)
    subj, _ = _subject(rng, num, nouns=PEOPLE, attractor=None)
    gap = rng.random() < 0.5
    return subj + [rng.choice(CLAUSAL).present(num), "what" if gap else "that"] + _embedded(rng, gap) + ["."]


def s_wh_question(rng: random.Random) -> list[str]:
    """``what does the girl see ?`` / ``who sees the cat ?``"""
    verb = rng.choice(TRANSITIVE)
    if rng.random() < 0.5:
        num = _num(rng)
        subj, _ = _np(rng, num, ANIMATE)
        return ["what", DO[num]] + subj + [verb.base, "?"]
    return ["who", verb.s3] + _object(rng) + ["?"]


SENTENCE_KINDS: dict[str, tuple[Callable[[random.Random], list[str]], float]] = {
    "intransitive": (s_intransitive, 0.14),
    "transitive": (s_transitive, 0.24),
    "perfect": (s_perfect, 0.12),
    "negated": (s_negated, 0.08),
    "question": (s_question, 0.08),
    "reflexive": (s_reflexive, 0.12),
    "embedding": (s_embedding, 0.14),
    "wh_question": (s_wh_question, 0.08),
}


def generate_corpus(n_words: int, seed: int = 0) -> list[str]:
    """Generate about ``n_words`` words (punctuation counts) of grammatical sentences.

    Deterministic in ``seed``; never contains a held-out sentence (:func:`is_heldout`).
    """
    rng = random.Random(f"babybench-grammar-corpus:{seed}")
    fns = [f for f, _ in SENTENCE_KINDS.values()]
    weights = [w for _, w in SENTENCE_KINDS.values()]
    sentences, words = [], 0
    while words < n_words:
        tokens = rng.choices(fns, weights)[0](rng)
        text = " ".join(tokens)
        if is_heldout(text):
            continue
        sentences.append(text)
        words += len(tokens)
    return sentences


# ------------------------------------------------------------------ minimal pairs
def _swap(words: list[str], i: int, new: str) -> list[str]:
    out = list(words)
    out[i] = new
    return out


def p_sva(attractor: str | None) -> Callable[[random.Random], tuple[list[str], list[str]]]:
    """Subject-verb agreement, optionally across an attractor of the other number."""
    def make(rng: random.Random) -> tuple[list[str], list[str]]:
        num = _num(rng)
        subj, _ = _subject(rng, num, attractor=attractor)
        verb = rng.choice(INTRANSITIVE)
        good = subj + [verb.present(num), "."]
        return good, _swap(good, len(subj), verb.present(_other(num)))
    return make


def p_det_noun(rng: random.Random) -> tuple[list[str], list[str]]:
    """``the boy sees these cats .`` vs ``the boy sees this cats .``"""
    num, obj_num = _num(rng), _num(rng)
    subj, _ = _subject(rng, num, attractor=None)
    det = {"sg": "this", "pl": "these"}
    obj, _ = _np(rng, obj_num, ALL_NOUNS, det=det[obj_num])
    good = subj + [rng.choice(TRANSITIVE).present(num)] + obj + ["."]
    return good, _swap(good, len(subj) + 1, det[_other(obj_num)])


def p_anaphor_gender(rng: random.Random) -> tuple[list[str], list[str]]:
    """``the king praises himself .`` vs ``the king praises herself .``"""
    subj, noun = _subject(rng, "sg", nouns=MALE + FEMALE, attractor=rng.choice([None, "pp"]))
    wrong = {"m": "herself", "f": "himself"}[noun.gender]
    good = subj + [rng.choice(REFLEXIVE_VERBS).s3, REFLEXIVE[("sg", noun.gender)], "."]
    return good, _swap(good, len(good) - 2, wrong)


def p_anaphor_number(rng: random.Random) -> tuple[list[str], list[str]]:
    """``the kings praise themselves .`` vs ``the kings praise himself .`` (and the reverse)."""
    num = _num(rng)
    subj, noun = _subject(rng, num, nouns=MALE + FEMALE, attractor=None)
    good = subj + [rng.choice(REFLEXIVE_VERBS).present(num)]
    if num == "sg":
        good, wrong = good + [REFLEXIVE[("sg", noun.gender)], "."], "themselves"
    else:
        good, wrong = good + ["themselves", "."], REFLEXIVE[("sg", noun.gender)]
    return good, _swap(good, len(good) - 2, wrong)


def p_npi_ever(rng: random.Random) -> tuple[list[str], list[str]]:
    """``no boy has ever seen the cat .`` vs ``the boy has ever seen the cat .``"""
    num = _num(rng)
    subj, _ = _subject(rng, num, det="no", attractor=None)
    good = subj + [HAVE[num], "ever", rng.choice(TRANSITIVE).pp] + _object(rng) + ["."]
    return good, _swap(good, 0, "the")


def p_npi_any(rng: random.Random) -> tuple[list[str], list[str]]:
    """``the boy never sees any cats .`` vs ``the boy often sees any cats .``"""
    num = _num(rng)
    subj, _ = _subject(rng, num, attractor=None)
    obj, _ = _np(rng, _num(rng), ALL_NOUNS, det="any")
    good = subj + ["never", rng.choice(TRANSITIVE).present(num)] + obj + ["."]
    return good, _swap(good, len(subj), "often")


def p_wh_vs_that(gap: bool) -> Callable[[random.Random], tuple[list[str], list[str]]]:
    """With a gap ``what`` is right and ``that`` wrong; without a gap the reverse."""
    def make(rng: random.Random) -> tuple[list[str], list[str]]:
        num = _num(rng)
        subj, _ = _subject(rng, num, nouns=PEOPLE, attractor=None)
        right, wrong = ("what", "that") if gap else ("that", "what")
        good = subj + [rng.choice(CLAUSAL).present(num), right] + _embedded(rng, gap) + ["."]
        return good, _swap(good, len(subj) + 1, wrong)
    return make


# UID -> (field, linguistics_term, maker)
PHENOMENA: dict[str, tuple[str, str, Callable[[random.Random], tuple[list[str], list[str]]]]] = {
    "sva_simple": ("morphology", "subject_verb_agreement", p_sva(None)),
    "sva_across_pp": ("morphology", "subject_verb_agreement", p_sva("pp")),
    "sva_across_relative_clause": ("morphology", "subject_verb_agreement", p_sva("rc")),
    "determiner_noun_agreement": ("morphology", "determiner_noun_agreement", p_det_noun),
    "anaphor_gender_agreement": ("morphology", "anaphor_agreement", p_anaphor_gender),
    "anaphor_number_agreement": ("morphology", "anaphor_agreement", p_anaphor_number),
    "npi_ever": ("semantics", "npi_licensing", p_npi_ever),
    "npi_any": ("semantics", "npi_licensing", p_npi_any),
    "wh_vs_that_with_gap": ("syntax", "filler_gap_dependency", p_wh_vs_that(True)),
    "wh_vs_that_no_gap": ("syntax", "filler_gap_dependency", p_wh_vs_that(False)),
}


def generate_pairs(n_per_phenomenon: int = 200, seed: int = 0) -> dict[str, list[dict]]:
    """Minimal pairs per phenomenon (UID), as BLiMP-format rows.

    Every row has ``sentence_good``, ``sentence_bad``, ``field``,
    ``linguistics_term``, ``UID`` and ``pair_id``. Good sentences are distinct,
    held out from every generated corpus, and deterministic in ``seed``.
    """
    out: dict[str, list[dict]] = {}
    for uid, (field, term, make) in PHENOMENA.items():
        rng = random.Random(f"babybench-grammar-pairs:{seed}:{uid}")
        rows: list[dict] = []
        seen: set[str] = set()
        for _ in range(n_per_phenomenon * 400):
            if len(rows) == n_per_phenomenon:
                break
            good, bad = make(rng)
            text = " ".join(good)
            if text in seen or not is_heldout(text):
                continue
            seen.add(text)
            rows.append({"sentence_good": text, "sentence_bad": " ".join(bad), "field": field,
                         "linguistics_term": term, "UID": uid, "pair_id": len(rows)})
        if len(rows) < n_per_phenomenon:  # only for absurd n: the grammar is finite
            raise ValueError(f"grammar phenomenon {uid} yields only {len(rows)} distinct pairs")
        out[uid] = rows
    return out


def write_pairs(out_dir: str | Path, n_per_phenomenon: int = 200, seed: int = 0) -> list[Path]:
    """Write one ``<UID>.jsonl`` per phenomenon into ``out_dir`` (atomic); return the paths."""
    out_dir = Path(out_dir)
    paths = []
    for uid, rows in generate_pairs(n_per_phenomenon, seed).items():
        text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
        paths.append(atomic_write_text(out_dir / f"{uid}.jsonl", text))
    return paths
