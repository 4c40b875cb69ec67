"""One ingest at a time per index on a shared Chroma server, whichever instance runs it.

The file lock in the data dir (ingest.index) only stops two ingests in the same data dir. With
`ELSEWHERE_CHROMA_URL` several instances, each with its own data dir, write to one server, so
the lock lives there too: a row in a `<prefix>_locks` collection, one per index (embedder).

- Taking it: `add` the row with a fresh token, then read it back. Chroma keeps the first row
  added under an id and ignores later adds, so exactly one ingest reads back its own token.
- A lease, not a lock forever: the row carries an expiry that a background thread pushes
  forward every RENEW_SECONDS while the ingest runs. An ingest that was killed leaves a row
  that lapses after LEASE_SECONDS; the next ingest removes it, but only if it is still that
  same row (a delete filtered on its token), so two ingests that both saw it lapse cannot
  both take the lease.
- A lease left by this same data dir (same host, same path) is taken over at once: this
  ingest holds the data dir's file lock, so the run that left it is gone (killed, or its
  server died under it and came back with the row).
- Released (deleted by token) when the ingest ends, however it ends.
"""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from app.errors import IngestLockedError
from ingest.store import where

if TYPE_CHECKING:
    from chromadb.api import ClientAPI
    from chromadb.api.models.Collection import Collection

    from app.settings import Settings

LEASE_SECONDS = 300.0  # a killed ingest holds the server's index this long at most
RENEW_SECONDS = 60.0
_VECTOR = [1.0]  # lock rows are read by id, never by similarity


def locks_name(settings: Settings) -> str:
    return f"{settings.collection_prefix}_locks"


@contextmanager
def server_lease(
    client: ClientAPI,
    settings: Settings,
    lease_seconds: float = LEASE_SECONDS,
    renew_seconds: float = RENEW_SECONDS,
) -> Iterator[None]:
    """Hold the server's ingest lease for this index while the body runs (a no-op for the
    embedded store, which the data dir's file lock already covers). IngestLockedError names
    who holds it and until when, when another ingest does."""
    if not settings.chroma_url:
        yield
        return
    collection = client.get_or_create_collection(locks_name(settings))
    lock_id = f"ingest:{settings.collection_name}"
    token = uuid.uuid4().hex
    _take(collection, lock_id, token, settings, lease_seconds)
    stop = threading.Event()
    renewer = threading.Thread(
        target=_renew,
        args=(collection, lock_id, token, lease_seconds, renew_seconds, stop),
        name="ingest-lease",
        daemon=True,
    )
    renewer.start()
    try:
        yield
    finally:
        stop.set()
        renewer.join()
        try:
            collection.delete(ids=[lock_id], where={"token": token})
        except Exception:  # noqa: BLE001 - a dead server: the lease lapses by itself
            pass


def _take(
    collection: Collection, lock_id: str, token: str, settings: Settings, lease: float
) -> None:
    host, data_dir = socket.gethostname(), str(settings.data_dir.resolve())
    owner = f"{host} pid {os.getpid()} data dir {data_dir}"
    for _ in range(3):  # further tries follow removing a lapsed or orphaned lease
        now = time.time()
        collection.add(
            ids=[lock_id],
            documents=[owner],
            metadatas=[
                {
                    "token": token,
                    "expires": now + lease,
                    "since": now,
                    "host": host,
                    "data_dir": data_dir,
                }
            ],  # fmt: skip
            embeddings=[_VECTOR],  # type: ignore[arg-type]
        )
        held = _holder(collection, lock_id)
        if held is None:
            continue  # released between our add and our read: try again
        meta, holder = held
        if meta.get("token") == token:
            return
        ours = meta.get("host") == host and meta.get("data_dir") == data_dir
        if ours or float(meta.get("expires", 0)) < time.time():
            collection.delete(ids=[lock_id], where={"token": str(meta.get("token"))})
            continue
        since = time.strftime("%H:%M:%S", time.localtime(float(meta.get("since", now))))
        left = max(0, round(float(meta["expires"]) - time.time()))
        raise IngestLockedError(
            f"another `elsewhere ingest` is writing to the index on {where(settings)} "
            f"({holder}, since {since}); wait for it to finish. If that run was killed, its "
            f"lease lapses within {left} s"
        )
    raise IngestLockedError(
        f"could not take the ingest lease on {where(settings)}: another ingest keeps taking "
        "it; try again"
    )


def _holder(collection: Collection, lock_id: str) -> tuple[dict[str, Any], str] | None:
    got = collection.get(ids=[lock_id], include=["metadatas", "documents"])
    if not got["ids"]:
        return None
    meta = dict((got["metadatas"] or [{}])[0] or {})
    return meta, str((got["documents"] or [""])[0])


def _renew(
    collection: Collection,
    lock_id: str,
    token: str,
    lease: float,
    every: float,
    stop: threading.Event,
) -> None:
    """Push the expiry forward while the ingest runs, only while the row is still ours."""
    while not stop.wait(every):
        try:
            held = _holder(collection, lock_id)
            if held is None or held[0].get("token") != token:
                return
            meta = {**held[0], "expires": time.time() + lease}
            collection.update(ids=[lock_id], metadatas=[meta])
        except Exception:  # noqa: BLE001 - the ingest itself reports a dead server
            return
