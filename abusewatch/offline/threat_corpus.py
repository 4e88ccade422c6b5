"""`abusewatch threat-corpus --out DIR`: a written corpus of direct threats against a person and
their hard negatives, as train.csv and dev.csv (text, label, family, template).

No public dataset labels one-to-one threats (the shared sets' threat labels are mostly incitement
against groups), so the project writes its own: templates composed from an intent, a harm or means,
and a reference to the victim's person, place or time, plus veiled threats that show knowledge of
the victim's life; and, as negatives, the same words used harmlessly: figurative violence, games
and sports, invitations, negation, news and fiction, and quoting, reporting or condemning a threat.
Templates, not sentences, are split between train and dev (one in three of each family goes to
dev), so dev measures whether a detector generalises to threats it has not seen the shape of.
The recipe is this file; the output is deterministic. docs/threats.md has the measured results.
"""

from __future__ import annotations

import argparse
import csv
import itertools
from pathlib import Path

HARM = ["kill", "hurt", "stab", "shoot", "strangle", "beat up", "burn", "cut"]
VICTIM = ["you", "your kids", "your wife", "your husband", "your daughter", "your mother"]
TIME = ["tonight", "tomorrow", "after work", "when you leave the office", "this weekend", "when you least expect it"]
PLACE = ["at your house", "outside your office", "in the car park", "at your kids' school", "on your way home"]
MEANS = ["acid", "a knife", "a bullet", "a bat", "gasoline"]
WORK = ["article", "video", "post", "tweet", "word"]

# family -> templates; {harm}, {victim}, {time}, {place}, {means}, {work} are filled from the lists.
THREATS: dict[str, list[str]] = {
    "intent": [
        "I will {harm} {victim} {time}",
        "I'm going to {harm} {victim} {place}",
        "we are going to find you and {harm} {victim}",
        "i swear i'll {harm} {victim}",
        "I'm coming for you {time}",
        "gonna {harm} {victim} {place}, just wait",
        "I'll put a bullet in your head {time}",
        "we will burn your house down {time}",
        "I'm going to throw {means} in your face {place}",
        "I want to {harm} {victim} and I will",
        "you have no idea, I'm going to {harm} {victim}",
        "next time I see you I will {harm} {victim}",
    ],
    "fate": [
        "you're dead {time}",
        "watch your back {time}",
        "your days are numbered",
        "you will regret this {time}",
        "sleep with one eye open {time}",
        "you're going to end up in a ditch",
        "you won't see it coming",
        "say goodbye to your kids",
        "you'll pay for what you wrote",
    ],
    "knows_victim": [
        "I know where you live",
        "we know where your kids go to school",
        "I know your home address and your car",
        "nice house you have there, would be a shame if something happened to your kids",
        "I know where you work and when you leave",
        "we've been watching you {place}",
        "I know your schedule. see you {place}",
        "it would be a shame if something happened to you {time}",
    ],
    "conditional": [
        "one more {work} and you get {means} in your face",
        "keep talking and you'll end up in a hospital",
        "another {work} like that and I will {harm} {victim}",
        "if you post again I will {harm} {victim}",
        "next time you write about us, you're dead",
        "keep it up and we will come for you {place}",
    ],
    # Threats the rule layer is not built for: measured as its misses, not tuned away.
    "veiled": [
        "accidents happen to people like you {time}",
        "hope the brakes on your car work {time}",
        "your family should be careful {place}",
        "people have disappeared for less than your last {work}",
    ],
}

NEGATIVES: dict[str, list[str]] = {
    "figurative": [
        "I'm going to kill it at the gym {time}",
        "you're killing me, this is so funny",
        "I'd kill for a coffee right now",
        "I'm going to murder this burger",
        "this song is killing me {time}",
        "I'll shoot you a message {time}",
        "I'm dying to see the new movie {time}",
        "I will destroy this exam {time}",
    ],
    "games_sports": [
        "we will destroy you in the finals {time}",
        "I'll beat you at chess {time}",
        "I'm going to kill you in fortnite {time}",
        "we're going to crush you in the match {time}",
        "I will end you in the quiz {time}",
    ],
    "invitation": [
        "I know where you live! come over for coffee {time}",
        "I know where you work, can we grab lunch {time}?",
        "I'll visit you soon for coffee",
        "I'll get you a coffee {place}",
        "I will find you a better job",
    ],
    "negation": [
        "I would never hurt you",
        "nobody is going to hurt you {place}, you're safe",
        "I will not let anyone harm your kids",
    ],
    "reporting": [
        "he said 'I will kill you' and I reported it",
        "someone wrote 'you are dead' on my wall and I called the police",
        "got a dm saying 'I know where you live', screenshots sent to the police",
        "police said the man threatened to kill his neighbour {time}",
        "she told me he would hurt her kids, so I reported him",
        "the message said 'watch your back'. reported to the platform",
    ],
    "counter_speech": [
        "telling someone 'I will hurt you' is never ok",
        "threatening journalists with 'you're dead' is a crime, report it",
        "saying 'I know where you live' to a stranger is harassment",
        "don't ever write 'I'll kill you' to anyone, even as a joke",
    ],
    "fiction_news": [
        "in the movie the villain says 'I will find you'",
        "the novel opens with a letter that reads 'your days are numbered'",
        "the court heard he threatened to burn the house down",
        "lyrics: 'I'm coming for you' is the best line of the album",
    ],
    "ordinary": [
        "thanks for the article {time}, really helpful",
        "see you {place} {time}!",
        "your kids are adorable, hope you all have a great weekend",
        "I disagree with your {work}, but it was well argued",
        "great {work}, keep going",
    ],
}

SLOTS = {"harm": HARM, "victim": VICTIM, "time": TIME, "place": PLACE, "means": MEANS, "work": WORK}
PER_TEMPLATE = 6  # fillings per template (fewer when a template has fewer combinations)


def _fillings(template: str, limit: int) -> list[str]:
    names = [name for name in SLOTS if "{" + name + "}" in template]
    if not names:
        return [template]
    combos = itertools.product(*(SLOTS[name] for name in names))
    # A fixed stride through the combinations: varied, deterministic.
    all_combos = list(combos)
    step = max(1, len(all_combos) // limit)
    picked = all_combos[::step][:limit]
    return [template.format(**dict(zip(names, combo))) for combo in picked]


def rows() -> list[dict[str, object]]:
    """Every example: text, label (1 threat, 0 not), family, template id, split."""
    out: list[dict[str, object]] = []
    for label, families in ((1, THREATS), (0, NEGATIVES)):
        for family, templates in families.items():
            for index, template in enumerate(templates):
                split = "dev" if index % 3 == 1 else "train"
                for text in _fillings(template, PER_TEMPLATE):
                    out.append({"text": text, "label": label, "family": family,
                                "template": f"{family}-{index}", "split": split})
    return out


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, required=True, help="folder for train.csv and dev.csv")


def run(args: argparse.Namespace) -> int:
    args.out.mkdir(parents=True, exist_ok=True)
    examples = rows()
    for split in ("train", "dev"):
        path = args.out / f"{split}.csv"
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=["text", "label", "family", "template"])
            writer.writeheader()
            for row in examples:
                if row["split"] == split:
                    writer.writerow({key: row[key] for key in ("text", "label", "family", "template")})
        count = sum(1 for row in examples if row["split"] == split)
        positives = sum(1 for row in examples if row["split"] == split and row["label"] == 1)
        print(f"wrote {count} examples ({positives} threats) to {path}")
    return 0
