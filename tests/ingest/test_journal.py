"""The journal keeps what it acknowledged: a torn tail is cut before new lines go after it,
a damaged line in the middle costs only itself, and a write that fails part way leaves no
half request behind (issue 5 review, item 2)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

from clm.ingest import journal


def line(n: int) -> bytes:
    return journal.encode({"n": n})


def replayed(folder: Path) -> list[int | None]:
    return [None if r is None else r["n"] for _, r in journal.replay(folder, journal.START)]


def test_records_appended_after_a_torn_tail_survive_the_next_replay(tmp_path: Path) -> None:
    written = journal.Journal(tmp_path)
    written.append([line(1), line(2)])
    written.close()
    segment = tmp_path / f"{1:010d}{journal.SUFFIX}"
    with segment.open("ab") as handle:
        handle.write(line(3)[:12])  # a crash in the middle of a write: never acknowledged
    assert replayed(tmp_path) == [1, 2]  # replay ends at the torn last line
    reopened = journal.Journal(tmp_path)
    end = reopened.append([line(4)])
    reopened.close()
    assert replayed(tmp_path) == [1, 2, 4]
    assert end == journal.Position(1, segment.stat().st_size)


def test_a_damaged_line_in_the_middle_is_reported_and_skipped(tmp_path: Path) -> None:
    written = journal.Journal(tmp_path, segment_bytes=2 * len(line(1)))
    written.append([line(1), line(2)])  # fills segment 1
    written.append([line(3)])
    written.close()
    first = tmp_path / f"{1:010d}{journal.SUFFIX}"
    data = bytearray(first.read_bytes())
    data[len(line(1)) + 12] ^= 0x01  # damage the second line of the first segment
    first.write_bytes(bytes(data))
    assert replayed(tmp_path) == [1, None, 3]
    reopened = journal.Journal(tmp_path)  # the last segment is whole: nothing is cut
    reopened.append([line(4)])
    reopened.close()
    assert replayed(tmp_path) == [1, None, 3, 4]


def test_a_write_that_fails_part_way_is_cut_back(tmp_path: Path) -> None:
    # A file size limit makes the disk "full" part way through a write, as ENOSPC would;
    # run in a child process so that the limit binds nothing else.
    script = textwrap.dedent(
        f"""
        import json, os, resource, signal
        from pathlib import Path
        from clm.ingest import journal
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        folder = Path({str(tmp_path)!r})
        j = journal.Journal(folder)
        first = j.append([journal.encode({{"n": 1}})])
        resource.setrlimit(resource.RLIMIT_FSIZE, (first.offset + 100, resource.RLIM_INFINITY))
        try:
            j.append([journal.encode({{"n": i, "pad": "x" * 50}}) for i in range(2, 6)])
            error = None
        except OSError as exc:
            error = exc.errno
        size = os.path.getsize(folder / "0000000001.jsonl")
        after = j.append([journal.encode({{"n": 6}})])
        print(json.dumps({{"error": error, "size": size, "first": first.offset,
                           "after": after.offset}}))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    result = json.loads(done.stdout)
    assert result["error"] is not None
    assert result["size"] == result["first"]  # nothing of the failed request is left
    assert replayed(tmp_path) == [1, 6]
    assert result["after"] == (tmp_path / "0000000001.jsonl").stat().st_size
