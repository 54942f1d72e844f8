"""JSON contracts of the repository commands: `repo`, `snapshot`, `verify`, `copy`, `key` (see
qfbackup/output/contract/__init__.py)."""

from qfbackup.output.contract import Contract, Key

_KIND = "the snapshot's kind: `basebackup`, `dump`, `wal`, `wal-quarantine` or `files`"

_SNAPSHOT_COUNTS = (
    Key("snapshots", "map", "how many snapshots of each kind, by kind (`basebackup`, `dump`, `wal`, `files`...)"),
    Key("snapshots{}", "integer", "the number of snapshots of that kind"),
)

CONTRACTS = [
    Contract(
        "repo init",
        "The repository just created, and the keys that open it.",
        (
            Key("repository", "string", "where it is: a directory or an `s3://bucket/prefix` URL"),
            Key("id", "id", "the repository's id"),
            Key("key_id", "id", "the key (passphrase or key file) it was created with"),
            Key("escrow_key_id", "id?", "the escrow key file's key; null without `--escrow-keyfile`"),
            Key("escrow_keyfile", "string?", "where the escrow key file was written; null without `--escrow-keyfile`"),
        ),
    ),
    Contract(
        "repo info",
        "The repository's format, layout, size, what it holds and who has it locked.",
        (
            Key("repository", "string", "where it is: a directory or an `s3://bucket/prefix` URL"),
            Key("id", "id", "the repository's id"),
            Key("format_version", "integer", "the version of the repository format (docs/format.md)"),
            Key("created", "time", "when it was created"),
            Key("chunk_avg", "bytes", "the average chunk size content-defined chunking aims at"),
            Key("pack_size", "bytes", "the size packs are filled to"),
            Key("packs", "integer", "how many packs it holds"),
            Key("stored_bytes", "bytes", "the packs' size in all"),
            *_SNAPSHOT_COUNTS,
            Key("locks", "array", "the locks held on it now, oldest first"),
            Key("locks[]", "object", "one lock"),
            Key("locks[].id", "id", "the lock's id (its object is `locks/<id>`)"),
            Key("locks[].exclusive", "boolean", "true for an exclusive lock (`repo cleanup`), false for a shared one"),
            Key("locks[].command", "string", "the qfbackup command holding it, for example `snapshot create`"),
            Key("locks[].host", "string", "the host it runs on"),
            Key("locks[].pid", "integer", "its process id on that host"),
            Key("locks[].created", "time", "when it was taken (the holder's clock)"),
            Key("locks[].refreshed", "time", "when the holder last refreshed it (every 5 minutes while it runs)"),
            Key(
                "locks[].stale",
                "boolean",
                "true when its holder is gone (this host) or it was not refreshed for 30 minutes (another host)",
            ),
        ),
    ),
    Contract(
        "repo cleanup",
        "What clean-up removed (or, with `--dry-run`, would remove): leftovers of interrupted writers.",
        (
            Key("dry_run", "boolean", "true when nothing was removed, only listed"),
            Key("packs", "array", "the unreferenced packs removed"),
            Key("packs[]", "string", "a pack's object name, `data/<xx>/<id>`"),
            Key("bytes", "bytes", "the removed packs' size in all"),
            Key("temp_files", "integer", "temporary files of interrupted writes removed (0 under `--dry-run`)"),
        ),
    ),
    Contract(
        "snapshot create",
        "The file-set snapshot just committed and what storing it cost.",
        (
            Key("id", "id", "the new snapshot's id"),
            Key("kind", "string", "always `files`"),
            Key("source", "string", "the directory backed up (absolute)"),
            Key("time", "time", "the snapshot's time"),
            Key("tags", "array", "its tags"),
            Key("tags[]", "string", "a tag"),
            Key("files", "integer", "regular files stored"),
            Key("dirs", "integer", "directories stored"),
            Key("bytes_in", "bytes", "bytes read from the files"),
            Key("bytes_new", "bytes", "of those, bytes of chunks the repository did not hold yet (before compression)"),
            Key("bytes_stored", "bytes", "what the repository grew by: packs, index files and the snapshot object"),
        ),
    ),
    Contract(
        "snapshot list",
        "Snapshots of every kind (or of `--kind`, with `--tag`), oldest first.",
        (
            Key("snapshots", "array", "the snapshots"),
            Key("snapshots[]", "object", "one snapshot"),
            Key("snapshots[].id", "id", "its id"),
            Key("snapshots[].time", "time", "its time"),
            Key("snapshots[].kind", "string", _KIND),
            Key("snapshots[].source", "string", "what it is of: a cluster's name, or a directory for `files`"),
            Key("snapshots[].host", "string", "the host that wrote it"),
            Key("snapshots[].tags", "array", "its tags"),
            Key("snapshots[].tags[]", "string", "a tag"),
            Key("snapshots[].bytes_in", "bytes?", "bytes it holds, as read; null when its writer recorded none"),
            Key(
                "snapshots[].bytes_stored",
                "bytes?",
                "what its writer added to the repository before committing it; null when it recorded none",
            ),
        ),
    ),
    Contract(
        "snapshot restore",
        "A file-set snapshot written into a directory.",
        (
            Key("snapshot_id", "id", "the snapshot restored"),
            Key("target", "string", "the directory written"),
            Key("files", "integer", "regular files written"),
        ),
    ),
    Contract(
        "verify",
        "What verify checked and every problem it found; exit 4 when there is one (docs/format.md#verify).",
        (
            Key("ok", "boolean", "true when no problem was found"),
            *_SNAPSHOT_COUNTS,
            Key("indexes", "integer", "index files checked"),
            Key("packs", "integer", "packs the indexes name, checked for presence and size"),
            Key("read_data", "boolean", "true with `--read-data`: packs were downloaded and every blob in them opened"),
            Key("subset", "number", "the percentage of packs `--read-data` reads (100: all)"),
            Key("packs_read", "integer", "packs downloaded (0 without `--read-data`)"),
            Key("bytes_read", "bytes", "their size in all"),
            Key("blobs_checked", "integer", "blobs authenticated, decompressed and checked against their ids"),
            Key("errors", "array", "the problems, each naming the object"),
            Key("errors[]", "object", "one missing or damaged object"),
            Key("errors[].kind", "string", "what it is: `pack`, `index`, `snapshot`, `key` or `blob`"),
            Key(
                "errors[].object",
                "string?",
                "its name in the repository (`data/<xx>/<id>`, `index/<id>`, ...; for a blob, the pack holding it); "
                "null for a blob no index places anywhere",
            ),
            Key("errors[].object_id", "id", "its id"),
            Key("errors[].message", "string", "what is wrong with it"),
            Key("errors[].affected", "array", "the snapshots that need it (restoring them may fail)"),
            Key("errors[].affected[]", "object", "one snapshot"),
            Key("errors[].affected[].snapshot_id", "id", "its id"),
            Key("errors[].affected[].kind", "string", _KIND),
            Key("orphan_packs", "array", "packs no index names: leftovers of interrupted writers, not errors"),
            Key("orphan_packs[]", "string", "a pack's object name (`repo cleanup` removes it)"),
        ),
    ),
    Contract(
        "copy",
        "What the copy to the off-site mirror did; exit 4 when a local object was corrupt and not copied.",
        (
            Key("to", "string", "the mirror's URL"),
            Key("copied", "integer", "objects copied"),
            Key("bytes_copied", "bytes", "their size in all"),
            Key("present", "integer", "objects the mirror already had"),
            Key("keys_removed", "array", "key wrappings removed from the mirror because they are gone here"),
            Key("keys_removed[]", "id", "a key's id"),
            Key("corrupt", "array", "local objects that failed their hash and were not copied"),
            Key("corrupt[]", "string", "an object's name, `data/<xx>/<id>`, `index/<id>` or `snapshots/<id>`"),
        ),
    ),
    Contract(
        "key add",
        "The key just added.",
        (
            Key("id", "id", "its id"),
            Key("kind", "string", "`passphrase` or `keyfile`"),
            Key("label", "string", "its note (empty when none was given)"),
            Key("created", "time", "when it was added"),
        ),
    ),
    Contract(
        "key list",
        "The keys that open the repository, oldest first (never their secrets).",
        (
            Key("keys", "array", "the keys"),
            Key("keys[]", "object", "one key"),
            Key("keys[].id", "id", "its id (what `key remove` takes)"),
            Key("keys[].kind", "string", "`passphrase` or `keyfile`"),
            Key("keys[].label", "string", "its note (empty when none was given)"),
            Key("keys[].created", "time", "when it was added"),
            Key("keys[].host", "string", "the host it was added on"),
            Key("keys[].current", "boolean", "true for the key this command unlocked with"),
        ),
    ),
    Contract(
        "key remove",
        "The key just removed.",
        (Key("id", "id", "its id"),),
    ),
    Contract(
        "key passwd",
        "The passphrase changed: a new key replaces the one unlocked with.",
        (
            Key("id", "id", "the new passphrase's key"),
            Key("replaced_key_id", "id", "the key removed (the old passphrase no longer opens the repository)"),
        ),
    ),
]
