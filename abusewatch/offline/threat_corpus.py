"""`abusewatch threat-corpus --out DIR`: a written corpus of direct threats against a person and
their hard negatives, as train.csv and dev.csv (text, label, family, template); and one of extortion
(a demand plus leverage: intimate images, private messages, personal data, secrets) with its hard
negatives (paying back a friend, asking for the wedding photos, reporting or warning about
blackmail), as extortion-train.csv and extortion-dev.csv.

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

MONEY = ["$500", "500 dollars", "$2,000", "0.1 btc", "300 euros", "$50 in gift cards"]
IMAGES = ["nudes", "pics", "videos", "photos", "pictures from that night"]
AUDIENCE = ["your school", "your family", "your boss", "all your followers", "your parents", "your wife"]
DEADLINE = ["within 24 hours", "by tonight", "by tomorrow", "in the next 2 hours", ""]

EXTORTION: dict[str, list[str]] = {
    "sextortion": [
        "send {money} {deadline} or I post your {images} everywhere",
        "pay {money} {deadline} or your {images} go to {audience}",
        "if you don't pay {money} {deadline}, {audience} will see your {images}",
        "I have your {images}. send me {money} {deadline} or everyone sees them",
        "send more {images} or I'll share the ones I have with {audience}",
        "you have to pay {money} {deadline}, otherwise I'm sending your {images} to {audience}",
        "unless you send {money} {deadline} I will upload your {images}",
        "I recorded the webcam call. pay {money} {deadline} or {audience} gets the video",
    ],
    "blackmail": [
        "pay {money} {deadline} or I tell {audience} your secret",
        "send {money} {deadline} or I leak your texts to {audience}",
        "I have screenshots of your chats. pay {money} {deadline} or I post them",
        "give me {money} {deadline} or I publish your home address",
        "if you don't send {money} {deadline}, {audience} will find out about the affair",
        "transfer {money} {deadline} or your messages get sent to {audience}",
    ],
}

EXTORTION_NEGATIVES: dict[str, list[str]] = {
    "paying_back": [
        "I'll send you the {money} {deadline}, thanks for covering dinner",
        "pay me back the {money} whenever you can, no rush",
        "can you venmo me {money} for the tickets?",
        "send me {money} for the concert tickets and I'll forward them to you",
    ],
    "asking_for_photos": [
        "send me the {images} from the wedding!",
        "can you send the {images} from the trip to {audience}?",
        "I'll post the {images} from the party {deadline}",
        "please share your {images} of the eclipse, they looked amazing",
    ],
    "reporting": [
        "someone is threatening to leak my {images} unless I pay {money}. how do I report this?",
        "PSA: scammers message you saying they will send your {images} to {audience} unless you pay. never pay, report them",
        "police arrested a man who demanded {money} or he would post the {images}",
        "my friend is being blackmailed, he says pay {money} or he shares her {images}. what do I do?",
        "if anyone threatens to send your {images} to {audience}, report it and don't pay",
    ],
    "business": [
        "pay the invoice {deadline} or we will send it to collections",
        "send {money} to reserve your spot, we'll post the schedule {deadline}",
        "if you don't pay {deadline} your subscription ends and we delete your {images}",
    ],
    "ordinary": [
        "congrats! send me the {images} when you can",
        "I'll tell {audience} the good news {deadline}",
        "your {images} from the marathon are great, you should post them",
    ],
}

SLOTS = {"harm": HARM, "victim": VICTIM, "time": TIME, "place": PLACE, "means": MEANS, "work": WORK,
         "money": MONEY, "images": IMAGES, "audience": AUDIENCE, "deadline": DEADLINE}
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
    return [" ".join(template.format(**dict(zip(names, combo))).split()) for combo in picked]


def rows(positives: dict[str, list[str]] = THREATS, negatives: dict[str, list[str]] = NEGATIVES) -> list[dict[str, object]]:
    """Every example: text, label (1 threat or extortion, 0 not), family, template id, split."""
    out: list[dict[str, object]] = []
    for label, families in ((1, positives), (0, negatives)):
        for family, templates in families.items():
            for index, template in enumerate(templates):
                split = "dev" if index % 3 == 1 else "train"
                for text in _fillings(template, PER_TEMPLATE):
                    out.append({"text": text, "label": label, "family": family,
                                "template": f"{family}-{index}", "split": split})
    return out


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, required=True,
                        help="folder for train.csv and dev.csv (threats), extortion-train.csv and extortion-dev.csv")


def run(args: argparse.Namespace) -> int:
    args.out.mkdir(parents=True, exist_ok=True)
    write(args.out, "", rows(), "threats")
    write(args.out, "extortion-", rows(EXTORTION, EXTORTION_NEGATIVES), "extortion")
    return 0


def write(out: Path, prefix: str, examples: list[dict[str, object]], what: str) -> None:
    for split in ("train", "dev"):
        path = out / f"{prefix}{split}.csv"
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=["text", "label", "family", "template"])
            writer.writeheader()
            for row in examples:
                if row["split"] == split:
                    writer.writerow({key: row[key] for key in ("text", "label", "family", "template")})
        count = sum(1 for row in examples if row["split"] == split)
        positives = sum(1 for row in examples if row["split"] == split and row["label"] == 1)
        print(f"wrote {count} examples ({positives} {what}) to {path}")
