"""AnalyticDB upload jobs through the official SDK (alibabacloud-gpdb20160503): UpsertCollectionDataAsync
with a FileUrl served over real HTTP by this test, GetUpsertCollectionDataJob polled to the end,
CancelUpsertCollectionDataJob, one job per collection, a bad line, a restart in the middle; and
`pier upload` (a local file through pier's upload endpoint, with its exit codes).

The big file is 200 MB of 768-d rows (the cloud's limit for one job), generated once per module.
"""

from __future__ import annotations

import functools
import http.server
import json
import os
import random
import re
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest
import requests
from alibabacloud_gpdb20160503 import models as gpdb
from alibabacloud_tea_openapi.exceptions import ClientException

from conftest import Pier, pier_bin
from test_adb_sdk import INSTANCE, NS_PASSWORD, REGION, Adb, unique

BIG_DIM = 768
BIG_BYTES = 200 * 1000 * 1000
SMALL_DIM = 4
# A job of this many 768-d rows ends within seconds (the console test watches one finish).
MID_ROWS = 8000
JOB_TIMEOUT_S = 600
TIME_FORMAT = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}")


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A directory of JSONL files served over HTTP on a loopback port: yields (dir, base_url)."""
    root = tmp_path_factory.mktemp("jobfiles")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *a: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def write_rows(path: Path, dim: int, *, rows: int | None = None, size: int | None = None,
               bad_lines: tuple[int, ...] = ()) -> int:
    """Writes rows {Id, Metadata, Vector} (every 7th without an Id) until `rows` or `size` bytes;
    returns the number of rows. The lines numbered in `bad_lines` (1-based) are not JSON."""
    rnd = random.Random(dim)
    pool = [",".join(f"{rnd.uniform(-1, 1):.6f}" for _ in range(dim)) for _ in range(997)]
    n = 0
    written = 0
    with path.open("w") as f:
        while (rows is None or n < rows) and (size is None or written < size):
            n += 1
            if n in bad_lines:
                line = '{"Id": "broken", "Vector": [1, 2,\n'
            else:
                ident = "" if n % 7 == 0 else f"row-{n}"
                line = (f'{{"Id": "{ident}", "Metadata": {{"title": "row {n}", "page": {n}}}, '
                        f'"Vector": [{pool[n % len(pool)]}]}}\n')
            f.write(line)
            written += len(line)
    return n


@pytest.fixture(scope="module")
def big_file(files):
    root, base = files
    path = root / "big.jsonl"
    rows = write_rows(path, BIG_DIM, size=BIG_BYTES - 10_000)
    assert path.stat().st_size <= 200 * 1024 * 1024
    return f"{base}/big.jsonl", rows


class Coll:
    """A namespace + collection on one server, and the job calls on it."""

    def __init__(self, server: Pier, dim: int):
        self.server = server
        self.adb = Adb(server, "http", None, "acs3")
        self.ns, self.name = unique("jobs"), unique("c")
        self.adb.client.create_namespace_with_options(gpdb.CreateNamespaceRequest(
            **self.adb.manager(namespace=self.ns, namespace_password=NS_PASSWORD)), self.adb.runtime)
        self.adb.client.create_collection_with_options(gpdb.CreateCollectionRequest(
            **self.adb.manager(namespace=self.ns, collection=self.name, dimension=dim, metrics="cosine",
                               metadata=json.dumps({"title": "text", "page": "int"}),
                               full_text_retrieval_fields="title", parser="english")), self.adb.runtime)

    def data(self, **kw) -> dict:
        return dict(dbinstance_id=INSTANCE, region_id=REGION, namespace=self.ns,
                    namespace_password=NS_PASSWORD, collection=self.name, **kw)

    def start(self, url: str) -> str:
        body = self.adb.client.upsert_collection_data_async_with_options(
            gpdb.UpsertCollectionDataAsyncRequest(**self.data(file_url=url)), self.adb.runtime).body
        assert body.status == "success"
        assert re.fullmatch(r"[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}", body.job_id)
        return body.job_id

    def job(self, job_id: str):
        return self.adb.client.get_upsert_collection_data_job_with_options(
            gpdb.GetUpsertCollectionDataJobRequest(**self.data(job_id=job_id)), self.adb.runtime).body.job

    def cancel(self, job_id: str):
        return self.adb.client.cancel_upsert_collection_data_job_with_options(
            gpdb.CancelUpsertCollectionDataJobRequest(**self.data(job_id=job_id)), self.adb.runtime).body

    def wait(self, job_id: str, until=lambda j: j.completed, timeout: float = JOB_TIMEOUT_S):
        deadline = time.monotonic() + timeout
        while True:
            job = self.job(job_id)
            if until(job):
                return job
            assert time.monotonic() < deadline, f"job {job_id} still {job.status} at {job.progress}"
            time.sleep(0.2)

    def documents(self) -> int:
        app = f"adb%2F{self.ns}%2F{self.name}"
        r = self.server.get(f"/api/v1/apps/{app}")
        assert r.status_code == 200, r.text
        return sum(t["documents"] for t in r.json()["tables"])

    def has(self, row_id: str) -> bool:
        r = self.server.get(f"/api/v1/apps/adb%2F{self.ns}%2F{self.name}/rows/docs/{row_id}")
        assert r.status_code in (200, 404), r.text
        return r.status_code == 200


def test_a_200_mb_job_runs_to_success_and_a_second_is_refused_meanwhile(pier, big_file):
    url, rows = big_file
    c = Coll(pier, BIG_DIM)
    job_id = c.start(url)
    # One job per collection: a second one while the first runs is a conflict.
    with pytest.raises(ClientException) as err:
        c.start(url)
    assert err.value.status_code == 409 and err.value.code == "Job.Conflict"
    assert job_id in err.value.message
    job = c.wait(job_id)
    assert (job.status, job.completed, job.error) == ("Success", True, ""), job.error
    assert job.progress == rows
    assert job.id == job_id and TIME_FORMAT.fullmatch(job.create_time) and TIME_FORMAT.fullmatch(job.update_time)
    # Success means searchable: every row is there, with and without an Id in the file.
    assert c.documents() == rows
    last_with_id = rows if rows % 7 else rows - 1
    assert c.has("row-1") and c.has("row-6") and c.has(f"row-{last_with_id}")
    assert not c.has("row-7")  # line 7 has no Id: pier gave it one
    # The collection is free again.
    c.cancel(c.start(url))


def test_cancel_in_the_middle_applies_nothing(pier, big_file):
    # A job acknowledges its rows only once the whole file is checked (a bad line anywhere fails
    # it with nothing applied), so a cancel while it fetches and checks 200 MB applies none.
    url, rows = big_file
    c = Coll(pier, BIG_DIM)
    job_id = c.start(url)
    assert c.cancel(job_id).status == "success"
    job = c.wait(job_id)
    assert (job.status, job.completed, job.progress) == ("Cancelled", True, 0)
    time.sleep(1)
    assert c.documents() == 0
    # Cancelling an ended job changes nothing, and the collection takes a new job.
    c.cancel(job_id)
    assert c.job(job_id).status == "Cancelled"
    c.cancel(c.start(url))


def test_a_bad_line_fails_the_job_with_its_line_number_and_applies_nothing(pier, files):
    root, base = files
    # Lines are checked in parallel: the first bad line is the one reported.
    write_rows(root / "bad.jsonl", SMALL_DIM, rows=3000, bad_lines=(1500, 2900))
    write_rows(root / "wrongdim.jsonl", SMALL_DIM + 1, rows=10)
    c = Coll(pier, SMALL_DIM)
    job = c.wait(c.start(f"{base}/bad.jsonl"))
    assert (job.status, job.completed, job.progress) == ("Failed", True, 0)
    assert job.error.startswith("line 1500: not a JSON object"), job.error
    assert c.documents() == 0
    job = c.wait(c.start(f"{base}/wrongdim.jsonl"))
    assert job.status == "Failed" and "line 1: Vector has 5 values but the collection's Dimension is 4" in job.error
    job = c.wait(c.start(f"{base}/missing.jsonl"))
    assert job.status == "Failed" and "404" in job.error and "missing.jsonl" in job.error
    assert c.documents() == 0


def test_job_calls_validate(pier, files):
    _, base = files
    c = Coll(pier, SMALL_DIM)
    for url, why in [("ftp://example.com/x.jsonl", "'ftp' URLs are not supported"),
                     ("not a url", "is not a URL")]:
        with pytest.raises(ClientException) as err:
            c.start(url)
        assert err.value.status_code == 400 and why in err.value.message, err.value.message
    with pytest.raises(ClientException) as err:
        c.job("231460f8-75dc-405e-a669-0c5204887e91")
    assert err.value.status_code == 404 and err.value.code == "Job.NotFound"
    # A job of another collection is not found through this one.
    other = Coll(pier, SMALL_DIM)
    write_rows(Path(files[0]) / "few.jsonl", SMALL_DIM, rows=5)
    job_id = other.start(f"{base}/few.jsonl")
    with pytest.raises(ClientException) as err:
        c.job(job_id)
    assert err.value.status_code == 404
    assert other.wait(job_id).status == "Success"


@pytest.mark.parametrize("moment", ["checking", "indexing"])
def test_a_restart_in_the_middle_resumes_the_job(tmp_path, big_file, moment):
    # Killed while the file is checked (nothing acknowledged: the job runs again), or once every
    # row is acknowledged and the index is being built (the log's batches are applied on start).
    url, rows = big_file
    server = Pier(pier_bin(), tmp_path)
    server.start()
    try:
        c = Coll(server, BIG_DIM)
        job_id = c.start(url)
        if moment == "checking":
            before = c.wait(job_id, until=lambda j: j.status == "Running" or j.completed)
            assert before.progress == 0
        else:
            before = c.wait(job_id, until=lambda j: j.progress == rows or j.completed, timeout=JOB_TIMEOUT_S)
        os.killpg(server.proc.pid, signal.SIGKILL)
        assert before.status == "Running" and not before.completed, "the job ended before the crash"
        server.proc.wait(timeout=10)
        # Ready once the log is replayed: after the "indexing" kill, that is the whole file.
        server.start(ready_timeout=JOB_TIMEOUT_S)
        job = c.wait(job_id)
        assert (job.status, job.progress, job.error) == ("Success", rows, "")
        # Rows applied before the crash and again after it are there once.
        assert c.documents() == rows
        assert c.has("row-1") and c.has("row-6")
    finally:
        server.stop()


def run_cli(server: Pier, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PIER_ENDPOINT": server.base_url, "PIER_ACCESS_KEY_ID": server.key_id,
           "PIER_ACCESS_KEY_SECRET": server.secret}
    return subprocess.run([str(pier_bin()), *args], env=env, capture_output=True, text=True, timeout=600)


def test_pier_upload_loads_a_local_file_and_its_exit_codes_say_how_it_went(pier, tmp_path):
    c = Coll(pier, SMALL_DIM)
    good = tmp_path / "good.jsonl"
    rows = write_rows(good, SMALL_DIM, rows=2500)
    out = run_cli(pier, "upload", str(good), "--namespace", c.ns, "--collection", c.name, "--json")
    assert out.returncode == 0, out.stderr
    job = json.loads(out.stdout)
    assert (job["status"], job["rows_done"], job["rows_total"]) == ("Success", rows, rows)
    assert c.documents() == rows
    # The SDK sees the CLI's job too.
    assert c.job(job["id"]).progress == rows
    # The uploaded copy is removed once the job has ended.
    assert not list((pier.data_dir / "uploads").glob("*.jsonl"))
    # The console's overview lists the job.
    console = requests.Session()
    r = console.post(pier.url("/login"), data={"key_id": pier.key_id, "secret": pier.secret, "next": "/"})
    assert r.status_code == 200 and "Upload jobs" in r.text, r.text[:500]
    row = re.search(rf"<tr><th scope=\"row\"><code>{job['id']}</code></th>(.*?)</tr>", r.text)
    assert row, "the job is not on the overview"
    assert "Success" in row.group(1) and f"adb/{c.ns}/{c.name}" in row.group(1)
    # Its search page speaks QueryCollectionData.
    vector = json.dumps([0.5] * SMALL_DIM)
    page = f"/apps/adb%2F{c.ns}%2F{c.name}/search"
    r = console.get(pier.url(page), params={"q": f"Vector={vector}&Filter=page = 5&TopK=3"})
    assert r.status_code == 200 and "QueryCollectionData parameters" in r.text
    assert re.findall(r"<td><code>([^<]*)</code></td>", r.text) == ["row-5"], r.text[-2000:]
    r = console.get(pier.url(page), params={"q": "Content=row&Filter=page ==== 5"})
    assert 'role="alert"' in r.text and "Filter" in r.text

    bad = tmp_path / "bad.jsonl"
    write_rows(bad, SMALL_DIM, rows=20, bad_lines=(7,))
    out = run_cli(pier, "upload", str(bad), "--namespace", c.ns, "--collection", c.name)
    assert out.returncode == 1
    assert "failed: line 7: not a JSON object" in out.stderr, out.stderr

    out = run_cli(pier, "upload", str(good), "--namespace", c.ns, "--collection", "nope")
    assert out.returncode == 2 and "collection 'nope'" in out.stderr, out.stderr
    out = run_cli(pier, "upload", str(tmp_path / "absent.jsonl"), "--collection", c.name)
    assert out.returncode == 2 and "cannot read" in out.stderr


def test_the_sdks_local_file_upload_lands_in_pier(pier, tmp_path):
    """UpsertCollectionDataAsyncAdvance: AuthorizeFileUpload, the OSS PostObject form (over HTTPS,
    always) and the job, all answered by pier. The SDK sends AuthorizeFileUpload to
    `client._open_platform_endpoint` (tea-openapi never sets it from Config): point it at pier."""
    c = Coll(pier, SMALL_DIM)
    path = tmp_path / "local.jsonl"
    rows = write_rows(path, SMALL_DIM, rows=300)
    adb = Adb(pier, "https", "ca", "acs3")
    adb.client._open_platform_endpoint = pier.https_endpoint
    with path.open("rb") as f:
        resp = adb.client.upsert_collection_data_async_advance(
            gpdb.UpsertCollectionDataAsyncAdvanceRequest(**c.data(file_url_object=f)), adb.runtime)
    assert resp.body.status == "success"
    job = c.wait(resp.body.job_id)
    assert (job.status, job.progress) == ("Success", rows), job.error
    assert c.documents() == rows
    # A form whose policy is not pier's is refused with OSS's error XML.
    r = requests.post(f"https://{pier.https_endpoint}/", verify=str(pier.tls_cert),
                      files={"OSSAccessKeyId": (None, pier.key_id), "policy": (None, "e30="),
                             "Signature": (None, "bm9wZQ=="), "key": (None, "api/v1/uploads/x"),
                             "file": ("x.jsonl", b"{}\n")})
    assert r.status_code == 403 and "<Code>SignatureDoesNotMatch</Code>" in r.text
