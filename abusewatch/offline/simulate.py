"""`abusewatch simulate`: a seeded scenario stream with ground-truth campaigns.

Background traffic to many targets with heavy-tailed popularity and a daily rhythm (with the
ordinary rudeness of a real platform), plus injected episodes:
- pile_on: 20-600 abusive replies within 2-10 minutes from 10+ mostly new, non-follower accounts,
  some copy-pasting the same text, front-loaded in time, with a few supportive replies mixed in;
- hop: one crowd piling on a target, then moving to two further targets;
- slow_burn: 60-150 abusive posts spread over 1-3 hours from 25-60 accounts;
- persistent_abuser: one account sending 15-40 abusive replies to one target (not a pile-on);
- viral_benign: thousands of friendly replies to a popular target, with the rudeness and
  copy-paste memes of any large crowd (must never alert).
Kinds of issue 21, none by default (so the documented scenarios regenerate unchanged; their draws
come after every older kind's, so adding them leaves the older episodes as they were):
- mixed_pile_on: a pile-on as it usually looks: a set share of explicit abuse (--mixed-abuse-shares),
  the rest hostile-but-clean replies ("log off", "ratio", "we know who you are"), all from
  days-old accounts that do not follow the target;
- friendly_flood: hundreds of "welcome!" from new accounts to a target that just joined;
- disagreement_wave: many non-followers disagreeing civilly with a politician (political speech),
  with the ordinary few rude replies of any crowd;
- viral_noisy_start: a viral benign burst at an ordinary account whose first minute is noisy
  (a third of a dozen or two replies rude or flagged), with no baseline to judge it by.
The new kinds must never alert except mixed_pile_on.
Writes post-scores/v1 (or posts/v1 with `--scorer none`) as JSONL and every episode to
truth.jsonl: {target, start, end, kind, episode, abusive_posts, authors[, hostile_posts,
explicit_share]}.
"""

from __future__ import annotations

import argparse
import dataclasses
import gzip
import math
import random
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any

import orjson

from abusewatch.ingest.contract import format_time, targets_of
from abusewatch.ingest.messages import Post
from abusewatch.scoring.classify import RuleFindings, post_scores_message, rule_findings
from abusewatch.offline import corpus

_EMOJI = ("", "", " 😡", " 🤡", " !!", " 👎", " lol", " 🙄")
_MEMES = 5

# Texts written for the simulator (issue 21): hostile but without profanity or slurs, which a
# classifier trained on explicit abuse may score anywhere from clean to abusive.
_HOSTILE_CORES = (
    "log off", "ratio", "we know who you are", "say goodbye to your career", "nobody asked",
    "delete your account", "you're finished", "enjoy your last week at that job", "everyone can see what you are",
    "keep talking and see what happens", "we are all watching you", "your employer will hear about this",
    "imagine being this wrong in public", "cope harder", "you should be ashamed to show your face",
    "this is the end of you", "stay scared", "hope you like unemployment", "touch grass", "clown behaviour",
    "get off this app", "no one will hire you after this", "you brought this on yourself", "watch your back",
    "better lock your doors tonight", "you won't be here much longer", "pathetic", "embarrassing", "go away",
    "L + ratio", "we have your address", "you picked the wrong people",
)
_HOSTILE_OPENERS = ("", "", "lol ", "honestly ", "wow. ", "imagine thinking this. ", "just ")
_HOSTILE_ENDINGS = ("", ".", "!", " 🤡", " lmao", " 👋", " 😂", " 🙄")
_FRIENDLY = (
    "welcome!", "welcome to the app!", "so glad you're here", "finally! welcome", "hi and welcome",
    "welcome welcome welcome", "love your work, welcome!", "been waiting for you to join!", "yay you're here!",
    "welcome aboard", "great to see you here", "omg welcome!!", "hello from a longtime fan", "welcome, legend",
)
_FRIENDLY_ENDINGS = ("", "", " ❤️", " 👋", " 🎉", " !!", " :)")
_DISAGREE_OPENERS = (
    "I respectfully disagree:", "I don't think that's right,", "With respect, I see it differently:",
    "I have to disagree here,", "Not sure I agree,", "I think you're mistaken on this:",
    "Strongly disagree, but thanks for explaining your view:", "As a constituent I disagree,",
)
_DISAGREE_REASONS = (
    "the policy would raise taxes for working families", "the data on immigration shows the opposite",
    "this bill does nothing for rural hospitals", "the minimum wage increase will cost small businesses jobs",
    "climate rules like this hurt farmers", "the court's decision protects free speech",
    "school choice helps poor kids the most", "gun laws like this don't reduce crime",
    "the deficit matters more than this program", "abortion should be decided by the states",
    "the new housing plan ignores renters", "this trade deal sends jobs overseas",
)
_DISAGREE_ENDINGS = ("", " Happy to share sources.", " Please reconsider.", " Vote no.",
                     " I hope you'll listen to constituents.", " Let's debate it.")


@dataclasses.dataclass(frozen=True)
class ScenarioConfig:
    seed: int = 7
    hours: float = 4.0
    targets: int = 5000
    posts_per_s: float = 60.0
    background_abusive_share: float = 0.04
    pile_ons: int = 40
    hops: int = 5
    slow_burns: int = 5
    persistent_abusers: int = 10
    viral_bursts: int = 4
    viral_posts: int = 50_000
    mixed_pile_ons: int = 0
    mixed_abuse_shares: tuple[float, ...] = (0.3,)  # cycled over the mixed pile-ons
    friendly_floods: int = 0
    disagreement_waves: int = 0
    noisy_viral_bursts: int = 0
    start: datetime = datetime(2026, 11, 2, 6, 0, tzinfo=timezone.utc)


@dataclasses.dataclass(slots=True)
class RawPost:
    ts: float
    author_id: str
    author_created_ts: float
    targets: tuple[str, ...]
    follows: bool
    text: str
    abusive: bool
    hostile: bool = False  # hostile but not explicit (issue 21 texts); the simulated scorer needs to know


def _front_loaded(rng: random.Random, start: float, duration: float) -> float:
    return start + duration * rng.betavariate(1.0, 2.5)


class ScenarioBuilder:
    def __init__(self, config: ScenarioConfig, texts: corpus.LabelledTexts) -> None:
        self.config = config
        self.texts = texts
        self.rng = random.Random(config.seed)
        self.t0 = config.start.timestamp()
        self.t1 = self.t0 + config.hours * 3600
        self.posts: list[RawPost] = []
        self.truth: list[dict[str, Any]] = []
        self._new_accounts = 0
        weights = [1.0 / (rank + 1) for rank in range(config.targets)]
        total = sum(weights)
        self.target_ids = [f"t{rank}" for rank in range(config.targets)]
        self.target_weights = [w / total for w in weights]
        self.memes = [self.rng.choice(texts.benign) for _ in range(_MEMES)]

    # -- accounts ------------------------------------------------------------------------------

    def old_author(self) -> tuple[str, float]:
        n = self.rng.randrange(500_000)
        return f"a{n}", self.t0 - 86_400 * (60 + (n * 7919) % 3000)

    def new_author(self, at: float) -> tuple[str, float]:
        self._new_accounts += 1
        return f"n{self._new_accounts}", at - 86_400 * self.rng.uniform(0.5, 14)

    def crowd(self, size: int, new_share: float, at: float) -> list[tuple[str, float]]:
        return [self.new_author(at) if self.rng.random() < new_share else self.old_author() for _ in range(size)]

    # -- traffic -------------------------------------------------------------------------------

    def background(self) -> None:
        rng, c = self.rng, self.config
        minute = 0
        while self.t0 + minute * 60 < self.t1:
            start = self.t0 + minute * 60
            hour = (start % 86_400) / 3600
            rhythm = 1.0 + 0.6 * math.sin(2 * math.pi * (hour - 9) / 24)  # peak mid-afternoon UTC
            count = _poisson(rng, c.posts_per_s * 60 * rhythm)
            targets = rng.choices(self.target_ids, weights=self.target_weights, k=count)
            for target in targets:
                author, created = self.old_author() if rng.random() > 0.05 else self.new_author(start)
                abusive = rng.random() < c.background_abusive_share
                pool = self.texts.abusive if abusive else self.texts.benign
                extra = (rng.choice(self.target_ids),) if rng.random() < 0.1 else ()
                self.posts.append(
                    RawPost(start + rng.random() * 60, author, created, (target, *extra), rng.random() < 0.5,
                            rng.choice(pool), abusive)
                )
            minute += 1

    def quiet_target(self) -> str:
        # pile-on victims: ordinary accounts (outside the 100 busiest), as journalists usually are
        return self.target_ids[self.rng.randrange(min(100, self.config.targets // 2), self.config.targets)]

    def episode_start(self, length_s: float) -> float:
        return self.rng.uniform(self.t0 + 0.1 * (self.t1 - self.t0), max(self.t0 + 0.1 * (self.t1 - self.t0) + 1,
                                                                          self.t1 - length_s - 600))

    def abusive_wave(self, name: str, kind: str, target: str, start: float, duration: float, size: int,
                     authors: list[tuple[str, float]], copy_share: float, front_loaded: bool) -> None:
        rng = self.rng
        scripts = [rng.choice(self.texts.abusive) for _ in range(rng.randint(1, 3))]
        times = sorted(_front_loaded(rng, start, duration) if front_loaded else rng.uniform(start, start + duration)
                       for _ in range(size))
        times[0] = start
        used = set()
        for i, ts in enumerate(times):
            author, created = authors[i] if i < len(authors) else rng.choice(authors)
            used.add(author)
            text = rng.choice(scripts) + rng.choice(_EMOJI) if rng.random() < copy_share else rng.choice(self.texts.abusive)
            self.posts.append(RawPost(ts, author, created, (target,), rng.random() < 0.08, text, True))
        for _ in range(size // 4):  # supporters replying kindly during the attack
            author, created = self.old_author()
            self.posts.append(RawPost(rng.uniform(start, start + duration), author, created, (target,), True,
                                      rng.choice(self.texts.benign), False))
        self.truth.append({"target": target, "start": format_time(_dt(times[0])), "end": format_time(_dt(times[-1])),
                           "kind": kind, "episode": name, "abusive_posts": size, "authors": len(used)})

    def pile_on(self, index: int) -> None:
        rng = self.rng
        size = min(600, int(20 * rng.paretovariate(1.3) * rng.uniform(1, 1.5)))
        duration = rng.uniform(120, 600)
        start = self.episode_start(duration)
        authors = self.crowd(max(10, int(size / rng.uniform(1.2, 2.5))), 0.7, start)
        self.abusive_wave(f"pile_on-{index}", "pile_on", self.quiet_target(), start, duration, size, authors,
                          copy_share=rng.uniform(0, 0.5), front_loaded=True)

    def hop(self, index: int) -> None:
        rng = self.rng
        authors = self.crowd(rng.randint(25, 50), 0.8, self.t0)
        start = self.episode_start(3 * 3600 * 0.3)
        for step in range(3):
            size = rng.randint(30, 100)
            duration = rng.uniform(180, 600)
            crowd = rng.sample(authors, k=int(len(authors) * 0.8))
            self.abusive_wave(f"hop-{index}", "hop", self.quiet_target(), start, duration, size, crowd,
                              copy_share=0.4, front_loaded=True)
            start += duration + rng.uniform(600, 2400)

    def slow_burn(self, index: int) -> None:
        rng = self.rng
        duration = rng.uniform(3600, 3 * 3600)
        start = self.episode_start(duration)
        authors = self.crowd(rng.randint(25, 60), 0.6, start)
        self.abusive_wave(f"slow_burn-{index}", "slow_burn", self.quiet_target(), start, duration,
                          rng.randint(60, 150), authors, copy_share=0.2, front_loaded=False)

    def persistent_abuser(self, index: int) -> None:
        rng = self.rng
        duration = rng.uniform(1800, 7200)
        start = self.episode_start(duration)
        self.abusive_wave(f"persistent-{index}", "persistent_abuser", self.quiet_target(), start, duration,
                          rng.randint(15, 40), [self.new_author(start)], copy_share=0.1, front_loaded=False)

    def viral_burst(self, index: int) -> None:
        rng = self.rng
        size = rng.randint(self.config.viral_posts // 5, self.config.viral_posts)
        duration = rng.uniform(1200, 5400)
        start = self.episode_start(duration)
        target = self.target_ids[rng.randrange(0, min(200, self.config.targets))]
        rude = 0
        for _ in range(size):
            ts = _front_loaded(rng, start, duration)
            author, created = self.new_author(ts) if rng.random() < 0.15 else self.old_author()
            roll = rng.random()
            if roll < 0.02:  # any large crowd has some rude replies
                text, abusive = rng.choice(self.texts.abusive), True
                rude += 1
            elif roll < 0.22:
                text, abusive = rng.choice(self.memes) + rng.choice(_EMOJI), False
            else:
                text, abusive = rng.choice(self.texts.benign), False
            self.posts.append(RawPost(ts, author, created, (target,), rng.random() < 0.4, text, abusive))
        self.truth.append({"target": target, "start": format_time(_dt(start)),
                           "end": format_time(_dt(start + duration)), "kind": "viral_benign",
                           "episode": f"viral-{index}", "abusive_posts": rude, "authors": size})

    # -- issue 21 kinds ------------------------------------------------------------------------

    def hostile_text(self) -> str:
        rng = self.rng
        return rng.choice(_HOSTILE_OPENERS) + rng.choice(_HOSTILE_CORES) + rng.choice(_HOSTILE_ENDINGS)

    def friendly_text(self) -> str:
        return self.rng.choice(_FRIENDLY) + self.rng.choice(_FRIENDLY_ENDINGS)

    def disagreement_text(self) -> str:
        rng = self.rng
        return f"{rng.choice(_DISAGREE_OPENERS)} {rng.choice(_DISAGREE_REASONS)}.{rng.choice(_DISAGREE_ENDINGS)}"

    def reply(self, kind: str) -> tuple[str, bool, bool]:
        """(text, abusive, hostile) for one reply of the given kind."""
        if kind == "abusive":
            return self.rng.choice(self.texts.abusive), True, False
        if kind == "hostile":
            return self.hostile_text(), False, True
        if kind == "friendly":
            return self.friendly_text(), False, False
        if kind == "disagree":
            return self.disagreement_text(), False, False
        return self.rng.choice(self.texts.benign), False, False

    def mixed_pile_on(self, index: int) -> None:
        rng = self.rng
        share = self.config.mixed_abuse_shares[index % len(self.config.mixed_abuse_shares)]
        size = min(600, int(20 * rng.paretovariate(1.3) * rng.uniform(1, 1.5)))
        duration = rng.uniform(120, 600)
        start = self.episode_start(duration)
        target = self.quiet_target()
        authors = self.crowd(max(10, int(size / rng.uniform(1.2, 2.5))), 1.0, start)  # all days-old
        explicit = round(share * size)
        kinds = ["abusive"] * explicit + ["hostile"] * (size - explicit)
        rng.shuffle(kinds)
        times = sorted(_front_loaded(rng, start, duration) for _ in range(size))
        times[0] = start
        used = set()
        for i, (ts, kind) in enumerate(zip(times, kinds)):
            author, created = authors[i] if i < len(authors) else rng.choice(authors)
            used.add(author)
            text, abusive, hostile = self.reply(kind)
            self.posts.append(RawPost(ts, author, created, (target,), False, text, abusive, hostile))
        for _ in range(size // 4):  # supporters replying kindly during the attack
            author, created = self.old_author()
            self.posts.append(RawPost(rng.uniform(start, start + duration), author, created, (target,), True,
                                      rng.choice(self.texts.benign), False))
        self.truth.append({"target": target, "start": format_time(_dt(times[0])), "end": format_time(_dt(times[-1])),
                           "kind": "mixed_pile_on", "episode": f"mixed-{index}", "abusive_posts": explicit,
                           "hostile_posts": size - explicit, "explicit_share": share, "authors": len(used)})

    def crowd_episode(self, kind: str, name: str, target: str, start: float, duration: float, size: int,
                      new_share: float, follow_share: float, mix: tuple[tuple[str, float], ...]) -> None:
        """size replies, front-loaded over duration, each of a kind drawn from mix (kind, weight)."""
        rng = self.rng
        kinds, weights = zip(*mix)
        counts = {"abusive": 0, "hostile": 0}
        for _ in range(size):
            ts = _front_loaded(rng, start, duration)
            author, created = self.new_author(ts) if rng.random() < new_share else self.old_author()
            reply_kind = rng.choices(kinds, weights=weights)[0]
            text, abusive, hostile = self.reply(reply_kind)
            counts[reply_kind] = counts.get(reply_kind, 0) + 1
            self.posts.append(RawPost(ts, author, created, (target,), rng.random() < follow_share, text, abusive,
                                      hostile))
        self.truth.append({"target": target, "start": format_time(_dt(start)),
                           "end": format_time(_dt(start + duration)), "kind": kind, "episode": name,
                           "abusive_posts": counts["abusive"], "hostile_posts": counts["hostile"], "authors": size})

    def friendly_flood(self, index: int) -> None:
        rng = self.rng
        duration = rng.uniform(600, 2400)
        # A celebrity who just joined: a target nobody replied to before.
        self.crowd_episode("friendly_flood", f"friendly-{index}", f"joined{index}", self.episode_start(duration),
                           duration, rng.randint(200, 800), new_share=0.85, follow_share=0.3,
                           mix=(("friendly", 0.9), ("benign", 0.08), ("abusive", 0.01), ("hostile", 0.01)))

    def disagreement_wave(self, index: int) -> None:
        rng = self.rng
        duration = rng.uniform(1200, 3600)
        target = self.target_ids[rng.randrange(min(20, self.config.targets // 2), min(500, self.config.targets))]
        self.crowd_episode("disagreement_wave", f"disagree-{index}", target, self.episode_start(duration), duration,
                           rng.randint(150, 600), new_share=0.25, follow_share=0.1,
                           mix=(("disagree", 0.9), ("benign", 0.03), ("abusive", 0.03), ("hostile", 0.04)))

    def noisy_viral_burst(self, index: int) -> None:
        rng = self.rng
        duration = rng.uniform(1200, 5400)
        start = self.episode_start(duration)
        target = self.quiet_target()  # an ordinary account going viral: no baseline to judge it by
        first = rng.randint(12, 25)
        # The first minute: a dozen or two replies, a third of them rude or easily flagged.
        for _ in range(first):
            ts = start + rng.uniform(0, 60)
            author, created = self.new_author(ts) if rng.random() < 0.15 else self.old_author()
            roll = rng.random()
            text, abusive, hostile = self.reply("abusive" if roll < 0.2 else "hostile" if roll < 0.35 else "benign")
            self.posts.append(RawPost(ts, author, created, (target,), rng.random() < 0.4, text, abusive, hostile))
        self.crowd_episode("viral_noisy_start", f"noisy-viral-{index}", target, start + 60, duration,
                           rng.randint(max(1, self.config.viral_posts // 25), max(1, self.config.viral_posts // 5)),
                           new_share=0.15, follow_share=0.4,
                           mix=(("benign", 0.94), ("abusive", 0.02), ("hostile", 0.04)))
        self.truth[-1]["start"] = format_time(_dt(start))
        self.truth[-1]["authors"] += first

    def build(self) -> None:
        c = self.config
        self.background()
        for i in range(c.pile_ons):
            self.pile_on(i)
        for i in range(c.hops):
            self.hop(i)
        for i in range(c.slow_burns):
            self.slow_burn(i)
        for i in range(c.persistent_abusers):
            self.persistent_abuser(i)
        for i in range(c.viral_bursts):
            self.viral_burst(i)
        for i in range(c.mixed_pile_ons):
            self.mixed_pile_on(i)
        for i in range(c.friendly_floods):
            self.friendly_flood(i)
        for i in range(c.disagreement_waves):
            self.disagreement_wave(i)
        for i in range(c.noisy_viral_bursts):
            self.noisy_viral_burst(i)
        self.posts.sort(key=lambda p: p.ts)
        self.truth.sort(key=lambda t: t["start"])


def _poisson(rng: random.Random, mean: float) -> int:
    return max(0, int(round(rng.gauss(mean, math.sqrt(mean))))) if mean > 50 else _small_poisson(rng, mean)


def _small_poisson(rng: random.Random, mean: float) -> int:
    limit, k, p = math.exp(-mean), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def _dt(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, tz=timezone.utc)


def post_message(index: int, raw: RawPost) -> dict[str, Any]:
    """posts/v1 for one simulated post."""
    return Post(
        post_id=f"p{index}",
        author_id=raw.author_id,
        text=raw.text,
        created_at=format_time(_dt(raw.ts)),
        reply_to_user_id=raw.targets[0],
        mentioned_user_ids=list(raw.targets[1:]),
        author_created_at=format_time(_dt(raw.author_created_ts)),
        author_follows_target=raw.follows,
        lang="en",
    ).to_message()


def score_message(post: dict[str, Any], scores: dict[str, float], model: dict[str, str],
                  rules: RuleFindings | None = None) -> dict[str, Any]:
    """post-scores/v1 for one simulated post, by the classifier's own builder (scored_at = event
    time: simulated streams have no processing time). `rules`: what the rule layers found, as the
    classifier runs them (the model scorer); None leaves their fields out (the label-proxy scorer,
    whose streams stay as they were before the layers existed)."""
    targets, _ = targets_of(post)
    return post_scores_message(post, targets, scores, model, scored_at=post["created_at"], latency_ms=0.0,
                               rules=rules)


def open_text(path: Path, mode: str) -> IO[Any]:
    """JSONL files, gzip-compressed when the name ends in .gz."""
    if path.suffix == ".gz":
        return gzip.open(path, mode + "b", compresslevel=3) if "w" in mode else gzip.open(path, "rb")
    return open(path, mode + "b")


def messages(builder: ScenarioBuilder, scorer: str) -> Iterator[dict[str, Any]]:
    if scorer == "none":
        for index, raw in enumerate(builder.posts):
            yield post_message(index, raw)
        return
    unique = sorted({(raw.text, raw.abusive, raw.hostile) for raw in builder.posts})
    rules: dict[str, RuleFindings | None] = {}
    if scorer == "model":
        # Copy-pasted variants carry an emoji suffix; score each exact text once. Every simulated
        # post is a reply, so the rule layers run on each text as the classifier would run them.
        scored, model = corpus.model_scores([text for text, _, _ in unique])
        by_text = {key: scores for key, scores in zip(unique, scored)}
        rules = {text: rule_findings(text, ("target",)) for text, _, _ in unique}
    else:
        by_text = {key: corpus.proxy_scores(*key) for key in unique}
        model = corpus.PROXY_MODEL
    for index, raw in enumerate(builder.posts):
        yield score_message(post_message(index, raw), by_text[(raw.text, raw.abusive, raw.hostile)], model,
                            rules.get(raw.text))


def generate(config: ScenarioConfig, out_dir: Path, scorer: str = "label-proxy", compress: bool = False,
             texts: corpus.LabelledTexts | None = None) -> tuple[Path, Path, int]:
    """Write the stream and truth.jsonl into out_dir; return (stream path, truth path, posts)."""
    builder = ScenarioBuilder(config, texts or corpus.load_texts())
    builder.build()
    out_dir.mkdir(parents=True, exist_ok=True)
    name = "posts.jsonl" if scorer == "none" else "post-scores.jsonl"
    stream_path = out_dir / (name + (".gz" if compress else ""))
    with open_text(stream_path, "w") as out:
        for message in messages(builder, scorer):
            out.write(orjson.dumps(message, option=orjson.OPT_APPEND_NEWLINE))
    truth_path = out_dir / "truth.jsonl"
    with open(truth_path, "wb") as out:
        for row in builder.truth:
            out.write(orjson.dumps(row, option=orjson.OPT_APPEND_NEWLINE))
    return stream_path, truth_path, len(builder.posts)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    defaults = ScenarioConfig()
    parser.add_argument("--out", type=Path, required=True, help="output directory")
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--hours", type=float, default=defaults.hours)
    parser.add_argument("--targets", type=int, default=defaults.targets)
    parser.add_argument("--posts-per-s", type=float, default=defaults.posts_per_s, help="background rate (mean)")
    parser.add_argument("--pile-ons", type=int, default=defaults.pile_ons)
    parser.add_argument("--hops", type=int, default=defaults.hops, help="crowds moving across 3 targets each")
    parser.add_argument("--slow-burns", type=int, default=defaults.slow_burns)
    parser.add_argument("--persistent-abusers", type=int, default=defaults.persistent_abusers)
    parser.add_argument("--viral-bursts", type=int, default=defaults.viral_bursts)
    parser.add_argument("--viral-posts", type=int, default=defaults.viral_posts, help="largest viral burst")
    parser.add_argument("--mixed-pile-ons", type=int, default=defaults.mixed_pile_ons,
                        help="pile-ons mixing explicit abuse with hostile-but-clean replies")
    parser.add_argument("--mixed-abuse-shares", default=",".join(map(str, defaults.mixed_abuse_shares)),
                        help="explicit-abuse shares of the mixed pile-ons, comma-separated, cycled (e.g. 0.3,0.2)")
    parser.add_argument("--friendly-floods", type=int, default=defaults.friendly_floods,
                        help="new-account floods of welcomes to a target that just joined")
    parser.add_argument("--disagreement-waves", type=int, default=defaults.disagreement_waves,
                        help="waves of civil disagreement from non-followers")
    parser.add_argument("--noisy-viral-bursts", type=int, default=defaults.noisy_viral_bursts,
                        help="viral benign bursts at ordinary accounts with a noisy first minute")
    parser.add_argument("--scorer", choices=["label-proxy", "model", "none"], default="label-proxy",
                        help="label-proxy: scores drawn from the human labels (not a model, see corpus.py); "
                             "model: the real classifier; none: write posts/v1 only")
    parser.add_argument("--gzip", action="store_true", help="compress the stream (.jsonl.gz)")


def run(args: argparse.Namespace) -> int:
    config = ScenarioConfig(
        seed=args.seed, hours=args.hours, targets=args.targets, posts_per_s=args.posts_per_s,
        pile_ons=args.pile_ons, hops=args.hops, slow_burns=args.slow_burns,
        persistent_abusers=args.persistent_abusers, viral_bursts=args.viral_bursts, viral_posts=args.viral_posts,
        mixed_pile_ons=args.mixed_pile_ons,
        mixed_abuse_shares=tuple(float(v) for v in args.mixed_abuse_shares.split(",") if v.strip()),
        friendly_floods=args.friendly_floods, disagreement_waves=args.disagreement_waves,
        noisy_viral_bursts=args.noisy_viral_bursts,
    )
    stream, truth, count = generate(config, args.out, scorer=args.scorer, compress=args.gzip)
    print(f"wrote {count} posts to {stream} and ground truth to {truth}")
    return 0
