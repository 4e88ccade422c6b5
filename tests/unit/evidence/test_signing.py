"""Signed checkpoints on both backends (SQLite file, real PostgreSQL): the rewrite attack (every
record from k on rewritten with consistently recomputed hashes, straight in the database) passes the
hash chain but fails verification with only the public key; wrong keys, forged and altered
checkpoints fail; rotated keys keep verifying old checkpoints; the CLI end to end."""

from __future__ import annotations

import argparse
import logging
import os
from datetime import timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from abusewatch.evidence import GENESIS_HASH, NewRecord, canonical_json, open_store, record_hash
from abusewatch.evidence.bundle import export_bundle, verify_bundle, verify_bundle_signatures
from abusewatch.cli.evidence import add_arguments, run
from abusewatch.evidence.settings import EvidenceSigningSettings
from abusewatch.evidence.signing import (
    Signer,
    load_private_key,
    load_public_key,
    load_signer,
    private_key_pem,
    public_key_pem,
    public_keys_by_id,
)
from tests.unit.evidence.test_chain import T0, Clock, dsn  # noqa: F401 - dsn is a fixture

TARGET = "u-maria"


def note(n: int) -> NewRecord:
    """A record in the target's case (keyed target:), as the actions service keys its records."""
    return NewRecord("appeal", f"2026-01-01T00:00:{n:02d}.000Z", {"appeal_id": f"a{n}", "text": f"record {n} ✓"}, (f"target:{TARGET}",))


def keys(*signers: Signer) -> dict:
    return public_keys_by_id(s.public_key for s in signers)


@pytest.fixture
def signer() -> Signer:
    return Signer(Ed25519PrivateKey.generate())


def signed_locker(dsn: str, signer: Signer, records: int = 10, every: int = 4):
    store = open_store(dsn, clock=Clock())
    store.enable_signing(signer, every)
    for n in range(1, records + 1):
        store.append([note(n)])  # one batch each, as the service appends: signs at 4 and 8
    store.sign_pending()  # the timer: 9..10
    return store


def rewrite_from(dsn: str, k: int) -> None:
    """The attack: an insider edits record k and recomputes every hash after it consistently,
    head row included, straight in the database."""
    store = open_store(dsn)
    chain = list(store.iter_chain())
    prev = next((r.hash for r in chain if r.seq == k - 1), GENESIS_HASH)
    for r in (r for r in chain if r.seq >= k):
        payload = {**r.payload, "text": "forged"} if r.seq == k else r.payload
        new_hash = record_hash({**r.envelope(), "payload": payload, "prev_hash": prev})
        store._execute(  # noqa: SLF001 - the point is to bypass the store's API
            "UPDATE evidence_records SET payload = ?, prev_hash = ?, hash = ? WHERE seq = ?",
            (canonical_json(payload), prev, new_hash, r.seq),
        )
        prev = new_hash
    store._execute("UPDATE evidence_head SET hash = ? WHERE id = 1", (prev,))  # noqa: SLF001
    store.close()


def ranges(store) -> list[tuple[int, int]]:
    return [(c.from_seq, c.seq) for c in store.signed_checkpoints()]


def test_a_rewritten_chain_passes_the_hash_chain_but_not_the_signatures(dsn, signer, tmp_path):
    store = signed_locker(dsn, signer)
    assert ranges(store) == [(1, 4), (5, 8), (9, 10)]
    intact = export_bundle(store, tmp_path / "intact", now=T0, target_id=TARGET)
    assert verify_bundle(intact) == []
    report = verify_bundle_signatures(intact, keys(signer))
    assert (report.problems, report.vouched, report.checkpoints) == ((), 10, 3)

    rewrite_from(dsn, 6)
    assert store.verify().ok, "the hash chain alone cannot see a consistent rewrite"
    forged = export_bundle(store, tmp_path / "forged", now=T0, target_id=TARGET)
    assert verify_bundle(forged) == []  # self-consistent: every hash recomputes
    problems = verify_bundle_signatures(forged, keys(signer)).problems
    assert problems == ("seq 6..10: hash differs from the one a signed checkpoint vouches for (chain rewritten after signing)",)
    assert verify_bundle_signatures(intact, keys(signer)).problems == ()  # the old bundle still holds
    assert store.verify_signatures(keys(signer)).problems == problems
    store.close()


def test_removing_the_checkpoints_too_is_caught_and_the_signer_will_not_launder_it(dsn, signer, tmp_path, caplog):
    store = signed_locker(dsn, signer)
    rewrite_from(dsn, 6)
    store._execute("DELETE FROM evidence_signed_checkpoints WHERE seq >= 6")  # noqa: SLF001
    with caplog.at_level(logging.ERROR):
        assert store.sign_pending() == []  # this signer signed through seq 10: it refuses
        store.append([note(11)] * 4)
    assert "NOT signing evidence" in caplog.text
    assert ranges(store) == [(1, 4)]
    bundle = export_bundle(store, tmp_path / "case", now=T0, target_id=TARGET)
    problems = verify_bundle_signatures(bundle, keys(signer)).problems
    assert any(p.startswith("seq 5..14: no valid signed checkpoint vouches") for p in problems), problems
    store.close()


def test_wrong_key_forged_and_altered_checkpoints_fail(dsn, signer, tmp_path):
    store = signed_locker(dsn, signer)
    intact = export_bundle(store, tmp_path / "intact", now=T0, target_id=TARGET)
    other = Signer(Ed25519PrivateKey.generate())
    problems = verify_bundle_signatures(intact, keys(other)).problems
    assert f"signed checkpoint 1..4: signed by key {signer.key_id}, which is not among the given public keys" in problems
    assert "seq 1..10: no valid signed checkpoint vouches for these records" in problems[-1]

    # Altered: the forger rewrites the chain and patches the stored hash lists to match.
    rewrite_from(dsn, 6)
    forged_hashes = canonical_json([r.hash for r in store.iter_chain() if 5 <= r.seq <= 8])
    store._execute("UPDATE evidence_signed_checkpoints SET hashes = ?, head_hash = ? WHERE seq = 8", (forged_hashes, store.get(8).hash))  # noqa: SLF001
    altered = export_bundle(store, tmp_path / "altered", now=T0, target_id=TARGET)
    problems = verify_bundle_signatures(altered, keys(signer)).problems
    assert "signed checkpoint 5..8: signature does not verify" in problems[0], problems

    # Forged: the forger replaces the checkpoints with ones signed by a key of their own.
    store._execute("DELETE FROM evidence_signed_checkpoints WHERE seq >= 5")  # noqa: SLF001
    forger = open_store(dsn)
    forger.enable_signing(other, 4)
    assert [(c.from_seq, c.seq) for c in forger.sign_pending()] == [(5, 8), (9, 10)]
    forger.close()
    forged = export_bundle(store, tmp_path / "forged", now=T0, target_id=TARGET)
    report = verify_bundle_signatures(forged, keys(signer))
    assert f"signed checkpoint 5..8: signed by key {other.key_id}, which is not among the given public keys" in report.problems
    assert report.vouched == 4 and "seq 5..10: no valid signed checkpoint" in report.problems[-1]
    store.close()


def test_rotation_old_checkpoints_keep_verifying_with_the_old_public_key(dsn, tmp_path):
    old, new = Signer(Ed25519PrivateKey.generate()), Signer(Ed25519PrivateKey.generate())
    store = signed_locker(dsn, old, records=4, every=2)
    store.enable_signing(new, 2)  # rotation: the service restarts with the new key
    for n in range(5, 9):
        store.append([note(n)])
    assert [c.key_id for c in store.signed_checkpoints()] == [old.key_id] * 2 + [new.key_id] * 2
    bundle = export_bundle(store, tmp_path / "case", now=T0, target_id=TARGET)
    both = verify_bundle_signatures(bundle, keys(old, new))
    assert (both.problems, both.vouched, both.key_ids) == ((), 8, tuple(sorted([old.key_id, new.key_id])))
    assert "seq 1..4: no valid signed checkpoint" in verify_bundle_signatures(bundle, keys(new)).problems[-1]
    assert "seq 5..8: no valid signed checkpoint" in verify_bundle_signatures(bundle, keys(old)).problems[-1]
    assert store.verify_signatures(keys(old, new)).problems == ()
    store.close()


def test_appends_sign_every_n_records_and_the_timer_signs_the_tail(dsn, signer):
    store = open_store(dsn, clock=Clock())
    store.enable_signing(signer, 3)
    store.append([note(n) for n in range(1, 3)])
    assert ranges(store) == []  # 2 unsigned: not due yet
    store.append([note(n) for n in range(3, 11)])
    assert ranges(store) == [(1, 3), (4, 6), (7, 9), (10, 10)]  # at most 3 per checkpoint
    store.append([note(11)])
    report = store.verify_signatures(keys(signer))
    assert (report.problems, report.vouched, report.unsigned_tail) == ((), 10, 1)
    assert [(c.from_seq, c.seq) for c in store.sign_pending()] == [(11, 11)]
    assert store.sign_pending() == []
    store.close()


def test_purge_drops_the_checkpoints_of_purged_records_and_stays_verifiable(dsn, signer):
    clock = Clock()
    store = open_store(dsn, clock=clock)
    store.enable_signing(signer, 2)
    store.append([note(n) for n in range(1, 6)])  # checkpoints 1..2, 3..4, 5..5
    clock.now = T0 + timedelta(days=400)
    store.append([note(6)])
    assert store.purge(T0 + timedelta(days=365)) == 5
    store.sign_pending()
    assert ranges(store) == [(6, 7)]  # record 6 and the purge's checkpoint record 7
    assert store.verify().ok and store.verify_signatures(keys(signer)).problems == ()
    store.close()


def test_keys_load_from_pem_base64_or_a_file_and_bad_ones_are_clear_errors(tmp_path, caplog):
    key = Ed25519PrivateKey.generate()
    expected = Signer(key).key_id
    raw = key.private_bytes_raw()
    import base64

    assert Signer(load_private_key(private_key_pem(key))).key_id == expected
    assert Signer(load_private_key(base64.b64encode(raw).decode())).key_id == expected
    assert public_keys_by_id([load_public_key(public_key_pem(key.public_key()))]).keys() == {expected}
    (tmp_path / "key.pem").write_bytes(private_key_pem(key))
    assert load_signer(EvidenceSigningSettings(signing_key_file=str(tmp_path / "key.pem"))).key_id == expected
    with pytest.raises(ValueError, match="not both"):
        load_signer(EvidenceSigningSettings(signing_key="x", signing_key_file="y"))
    with pytest.raises(ValueError, match="neither PEM nor base64"):
        load_private_key("not a key!")
    with pytest.raises(ValueError, match="32 raw bytes"):
        load_private_key(base64.b64encode(b"short").decode())
    with pytest.raises(ValueError, match="ABUSEWATCH_EVIDENCE_SIGNING_KEY: signing key: neither PEM"):
        load_signer(EvidenceSigningSettings(signing_key="garbage"))
    with pytest.raises(ValueError, match="cannot read"):
        load_signer(EvidenceSigningSettings(signing_key_file=str(tmp_path / "missing.pem")))
    with caplog.at_level(logging.WARNING):
        assert load_signer(EvidenceSigningSettings()) is None
    assert "evidence checkpoints are NOT signed" in caplog.text


def test_cli_keygen_export_and_verify_with_public_keys(tmp_path, capsys, monkeypatch):
    dsn = f"sqlite:///{tmp_path / 'evidence.sqlite3'}"

    def cli(*argv):
        parser = argparse.ArgumentParser()
        add_arguments(parser)
        return run(parser.parse_args(["--dsn", dsn, *argv]))

    key_file, public_file = tmp_path / "signing.pem", tmp_path / "signing.pub.pem"
    assert cli("keygen", "--out", str(key_file), "--public-out", str(public_file)) == 0
    assert os.stat(key_file).st_mode & 0o777 == 0o600
    assert "wrote signing key" in capsys.readouterr().out
    assert cli("keygen", "--out", str(key_file)) == 2  # never overwrites a key
    monkeypatch.setenv("ABUSEWATCH_EVIDENCE_SIGNING_KEY_FILE", str(key_file))
    assert cli("public-key") == 0
    assert capsys.readouterr().out == public_file.read_text()

    store = open_store(dsn)
    store.append([note(n) for n in range(1, 4)])  # appended unsigned (no signer on this store)
    store.close()
    assert cli("export", "--target", TARGET, "--out", str(tmp_path / "case")) == 0  # signs the pending tail
    assert "WARNING" not in capsys.readouterr().out
    assert cli("verify", str(tmp_path / "case"), "--public-key", str(public_file)) == 0
    assert "3 record(s) vouched for by 1 signed checkpoint(s)" in capsys.readouterr().out
    assert cli("verify", "--db", "--public-key", str(public_file)) == 0

    monkeypatch.setenv("ABUSEWATCH_EVIDENCE_SIGNING_KEY", "garbage")
    assert cli("export", "--target", TARGET, "--out", str(tmp_path / "never")) == 2  # ambiguous, then invalid
    monkeypatch.delenv("ABUSEWATCH_EVIDENCE_SIGNING_KEY_FILE")
    assert cli("public-key") == 2
    assert "invalid signing key: ABUSEWATCH_EVIDENCE_SIGNING_KEY: signing key: neither PEM" in capsys.readouterr().err
    monkeypatch.delenv("ABUSEWATCH_EVIDENCE_SIGNING_KEY")
    store = open_store(dsn)
    store.append([note(4)])
    store.close()
    assert cli("export", "--target", TARGET, "--out", str(tmp_path / "unsigned")) == 0
    assert "WARNING: 1 record(s) not covered by a signed checkpoint" in capsys.readouterr().out
    assert cli("verify", str(tmp_path / "unsigned")) == 0
    assert "signatures NOT checked" in capsys.readouterr().out
    assert cli("verify", str(tmp_path / "unsigned"), "--public-key", str(public_file)) == 1
    assert "TAMPERED: seq 4..4: no valid signed checkpoint" in capsys.readouterr().out

    rewrite_from(dsn, 2)
    assert cli("export", "--target", TARGET, "--out", str(tmp_path / "forged")) == 0
    assert cli("verify", str(tmp_path / "forged"), "--public-key", str(public_file)) == 1
    assert "chain rewritten after signing" in capsys.readouterr().out
    other = tmp_path / "other.pem"
    assert cli("keygen", "--out", str(other), "--public-out", str(tmp_path / "other.pub.pem")) == 0
    # Rotation on the command line: both public keys, repeatable.
    assert cli("verify", str(tmp_path / "case"), "--public-key", str(tmp_path / "other.pub.pem"), "--public-key", str(public_file)) == 0


def test_a_garbled_checkpoints_file_is_a_clear_problem_not_a_crash(tmp_path, signer):
    import json

    store = signed_locker(f"sqlite:///{tmp_path / 'evidence.sqlite3'}", signer, records=2, every=2)
    bundle = export_bundle(store, tmp_path / "case", now=T0, target_id=TARGET)
    store.close()
    path = bundle / "checkpoints.jsonl"
    emptied = {**json.loads(path.read_text()), "hashes": []}
    path.write_text(json.dumps(emptied) + "\n")
    assert "signed checkpoint 1..2: its hash list does not match" in verify_bundle_signatures(bundle, keys(signer)).problems[0]
    assert "checkpoints.jsonl: SHA-256 does not match" in verify_bundle(bundle)[0]
    path.write_text('{"seq": 1}\n')
    assert verify_bundle_signatures(bundle, keys(signer)).problems[0].startswith("cannot check signatures")


def test_a_checkpoint_rolled_back_with_its_transaction_is_not_remembered_as_signed(tmp_path, signer):
    store = open_store(f"sqlite:///{tmp_path / 'evidence.sqlite3'}", clock=Clock())
    store.enable_signing(signer, 10)
    store.append([note(n) for n in range(1, 4)])

    def sign_then_fail():  # as if the COMMIT failed (database outage) after signing
        store._lock_head()  # noqa: SLF001
        assert [(c.from_seq, c.seq) for c in store._sign_locked()] == [(1, 3)]  # noqa: SLF001
        raise ConnectionError("database went away")

    with pytest.raises(ConnectionError):
        store._write(sign_then_fail)  # noqa: SLF001
    assert ranges(store) == []
    assert [(c.from_seq, c.seq) for c in store.sign_pending()] == [(1, 3)]  # no false tamper alarm
    store.close()
