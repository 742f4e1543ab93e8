"""The AnalyticDB for PostgreSQL vector API (namespaces, collections, collection data) through the
official SDK, unmodified: `alibabacloud-gpdb20160503` from PyPI (pinned in requirements.txt) with its
Tea/Darabonba runtime.

Each scenario runs over HTTP and over HTTPS (pier's self-signed certificate, once as the CA file and
once with verification off), with the SDK's default ACS3-HMAC-SHA256 signature and with the legacy
RPC HMAC-SHA1 one (`Config(signature_algorithm="v2")`).
"""

from __future__ import annotations

import functools
import http.server
import itertools
import json
import math
import os
import re
import subprocess
import threading
import time

import pytest
from alibabacloud_gpdb20160503 import models as gpdb
from alibabacloud_gpdb20160503.client import Client
from alibabacloud_tea_openapi.exceptions import ClientException, ServerException
from alibabacloud_tea_openapi.utils_models import Config
from darabonba.runtime import RuntimeOptions

from conftest import Pier, pier_bin

# Verification off is one of the transports under test: its warning is expected.
pytestmark = pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")

INSTANCE = "gp-pier-test"
REGION = "cn-hangzhou"

# (protocol, TLS verification, signature): every way a client may reach pier.
TRANSPORTS = [
    ("http", None, "acs3"),
    ("http", None, "v2"),
    ("https", "ca", "acs3"),
    ("https", "ca", "v2"),
    ("https", "off", "acs3"),
]
_names = itertools.count(1)


class Adb:
    """The SDK client plus the runtime options and the manager credentials of one transport."""

    def __init__(self, pier: Pier, protocol: str, verify: str | None, signature: str):
        endpoint = pier.https_endpoint if protocol == "https" else pier.endpoint
        if verify == "off":
            # darabonba-core 1.0.9 caches one HTTPS session per host and port, whatever the verify
            # mode, and a verifying session cannot be reused unverified ("Cannot set verify_mode to
            # CERT_NONE when check_hostname is enabled"): reach pier under another name.
            endpoint = f"localhost:{pier.https_port}"
        config = Config(access_key_id=pier.key_id, access_key_secret=pier.secret,
                        endpoint=endpoint, protocol=protocol, region_id=REGION)
        if signature == "v2":
            config.signature_algorithm = "v2"
        self.client = Client(config)
        self.runtime = RuntimeOptions(ca=str(pier.tls_cert) if verify == "ca" else None,
                                      ignore_ssl=verify == "off")
        self.account = pier.manager_account
        self.password = pier.manager_password

    def manager(self, **kw) -> dict:
        return dict(dbinstance_id=INSTANCE, region_id=REGION, manager_account=self.account,
                    manager_account_password=self.password, **kw)


@pytest.fixture(params=TRANSPORTS, ids=lambda t: "-".join(x for x in t if x))
def adb(pier, request) -> Adb:
    return Adb(pier, *request.param)


def unique(prefix: str) -> str:
    return f"{prefix}_{os.getpid()}_{next(_names)}"


def test_init_vector_database_is_idempotent(adb):
    for _ in range(2):
        resp = adb.client.init_vector_database_with_options(
            gpdb.InitVectorDatabaseRequest(**adb.manager()), adb.runtime)
        assert resp.status_code == 200
        assert resp.body.status == "success"
        assert re.fullmatch(r"[0-9A-F]{8}(-[0-9A-F]{4}){3}-[0-9A-F]{12}", resp.body.request_id)
    names = adb.client.list_namespaces_with_options(
        gpdb.ListNamespacesRequest(**adb.manager()), adb.runtime).body.namespaces.namespace
    assert "public" in names


def test_namespace_lifecycle(adb):
    ns = unique("ns")
    create = gpdb.CreateNamespaceRequest(**adb.manager(namespace=ns, namespace_password="ns1Pass!"))
    assert adb.client.create_namespace_with_options(create, adb.runtime).body.status == "success"
    # Idempotent, and a new password replaces the old one.
    create.namespace_password = "an0ther pass"
    assert adb.client.create_namespace_with_options(create, adb.runtime).status_code == 200

    listed = adb.client.list_namespaces_with_options(
        gpdb.ListNamespacesRequest(**adb.manager()), adb.runtime).body
    assert ns in listed.namespaces.namespace
    assert listed.count == len(listed.namespaces.namespace)
    assert listed.dbinstance_id == INSTANCE and listed.region_id == REGION

    described = adb.client.describe_namespace_with_options(
        gpdb.DescribeNamespaceRequest(**adb.manager(namespace=ns)), adb.runtime).body
    assert described.namespace == ns
    assert described.namespace_info["Name"] == ns
    assert described.status == "success" and described.message == "success"

    adb.client.delete_namespace_with_options(
        gpdb.DeleteNamespaceRequest(**adb.manager(namespace=ns)), adb.runtime)
    # Integrations (Dify, LlamaIndex) treat exactly 404 as "does not exist, create it".
    with pytest.raises(ClientException) as err:
        adb.client.describe_namespace_with_options(
            gpdb.DescribeNamespaceRequest(**adb.manager(namespace=ns)), adb.runtime)
    assert err.value.status_code == 404
    assert err.value.code == "Namespace.NotExist"
    assert err.value.request_id


def test_wrong_manager_password_is_refused(adb):
    adb.password = "not the password"
    with pytest.raises(ClientException) as err:
        adb.client.list_namespaces_with_options(gpdb.ListNamespacesRequest(**adb.manager()), adb.runtime)
    assert err.value.status_code == 403
    assert err.value.code == "ManagerAccount.PasswordMismatch"


def test_unknown_action_and_wrong_secret_are_client_errors(pier):
    adb = Adb(pier, "http", None, "acs3")
    # An action pier does not serve yet: the SDK sees a 404 with the envelope.
    with pytest.raises(ClientException) as err:
        adb.client.get_upload_document_job_with_options(
            gpdb.GetUploadDocumentJobRequest(dbinstance_id=INSTANCE, region_id=REGION, namespace="public",
                                             namespace_password="x", collection="c", job_id="j"),
            adb.runtime)
    assert err.value.status_code == 404 and err.value.code == "InvalidAction.NotFound"

    bad = Client(Config(access_key_id=pier.key_id, access_key_secret="wrong", endpoint=pier.endpoint,
                        protocol="http", region_id=REGION))
    with pytest.raises(ClientException) as err:
        bad.list_namespaces_with_options(gpdb.ListNamespacesRequest(**adb.manager()), adb.runtime)
    assert err.value.status_code == 400 and err.value.code == "SignatureDoesNotMatch"


@pytest.mark.parametrize("signature", ["acs3", "v2"])
def test_sts_credentials_pass_through(pier, signature):
    # An STS token travels as the signed header x-acs-security-token (ACS3) or the parameter
    # SecurityToken (v2); pier accepts it and verifies the signature with the AccessKey.
    def client(secret):
        config = Config(access_key_id=pier.key_id, access_key_secret=secret, endpoint=pier.endpoint,
                        protocol="http", region_id=REGION, security_token="STS.pier-test-token")
        if signature == "v2":
            config.signature_algorithm = "v2"
        return Client(config)
    request = gpdb.ListNamespacesRequest(dbinstance_id=INSTANCE, region_id=REGION,
                                         manager_account=pier.manager_account,
                                         manager_account_password=pier.manager_password)
    body = client(pier.secret).list_namespaces_with_options(request, RuntimeOptions()).body
    assert body.status == "success" and body.count == len(body.namespaces.namespace or [])
    err = client_error(lambda: client("wrong").list_namespaces_with_options(request, RuntimeOptions()))
    assert err.status_code == 400 and err.code == "SignatureDoesNotMatch"


def test_first_start_creates_and_prints_the_manager_account(tmp_path):
    """Without PIER_MANAGER_*, `pier serve` creates the manager account, prints it once and keeps
    only its hash (owner-only) in the data dir; the printed password works through the SDK."""
    server = Pier(pier_bin(), tmp_path, manager=None)
    server.start()
    try:
        deadline = time.monotonic() + 10
        match = None
        while match is None and time.monotonic() < deadline:
            log = server.log_path.read_text(errors="replace")
            match = re.search(r"ManagerAccount:\s+(\S+)\s+ManagerAccountPassword:\s+(\S+)", log)
            time.sleep(0.1)
        assert match, f"no manager account printed:\n{log}"
        account, password = match.groups()
        stored = server.data_dir / "adb-manager.json"
        assert stored.stat().st_mode & 0o777 == 0o600
        assert password not in stored.read_text()
        server.manager_account, server.manager_password = account, password
        adb = Adb(server, "https", "ca", "acs3")
        resp = adb.client.init_vector_database_with_options(
            gpdb.InitVectorDatabaseRequest(**adb.manager()), adb.runtime)
        assert resp.body.status == "success"
    finally:
        server.stop()
    # A restart keeps the account and prints nothing new.
    server.start()
    try:
        time.sleep(0.5)
        assert server.log_path.read_text(errors="replace").count("ManagerAccountPassword:") == 1
    finally:
        server.stop()


def test_self_signed_certificate_names_loopback(pier):
    text = subprocess.run(["openssl", "x509", "-noout", "-text", "-in", str(pier.tls_cert)],
                          capture_output=True, text=True)
    if text.returncode != 0:
        pytest.skip("openssl is not installed")
    assert "IP Address:127.0.0.1" in text.stdout and "DNS:localhost" in text.stdout


# ---- collections and their data -------------------------------------------------------------

NS_PASSWORD = "ns Pass!1"
DIM = 4


def vec(i: int) -> list[float]:
    """A deterministic, distinct vector per row."""
    return [round(math.sin(i * 1.3 + d) * (1 + (i % 5)), 4) for d in range(DIM)]


WORDS = ["apple", "banana", "cherry", "durian"]


def rows_data(n: int = 40) -> list[dict]:
    return [{"Id": f"r{i:03d}",
             "Metadata": {"title": f"{WORDS[i % 4]} story {i}", "page": i, "score": i / 4,
                          "ok": i % 3 == 0, "tags": ["t" + str(i % 2)], "meta": {"k": i % 2}},
             "Vector": vec(i)} for i in range(n)]


def brute(rows, q, metric, keep=lambda r: True):
    def score(v):
        if metric == "l2":
            return math.sqrt(sum((a - b) ** 2 for a, b in zip(v, q)))
        ip = sum(a * b for a, b in zip(v, q))
        if metric == "ip":
            return ip
        return ip / (math.sqrt(sum(a * a for a in v)) * math.sqrt(sum(b * b for b in q)))
    scored = [(r["Id"], score(r["Vector"])) for r in rows if keep(r)]
    scored.sort(key=lambda x: (x[1], x[0]) if metric == "l2" else (-x[1], x[0]))
    return scored


class Collection:
    def __init__(self, adb: Adb, metric: str, parser: str = "english"):
        self.adb = adb
        self.ns = unique("ns")
        self.name = unique("docs")
        self.metric = metric
        adb.client.create_namespace_with_options(gpdb.CreateNamespaceRequest(
            **adb.manager(namespace=self.ns, namespace_password=NS_PASSWORD)), adb.runtime)
        meta = {"title": "text", "page": "int", "score": "double precision", "ok": "boolean",
                "tags": "text[]", "meta": "jsonb"}
        resp = adb.client.create_collection_with_options(gpdb.CreateCollectionRequest(
            **adb.manager(namespace=self.ns, collection=self.name, dimension=DIM, metrics=metric,
                          metadata=json.dumps(meta), full_text_retrieval_fields="title", parser=parser,
                          hnsw_m=16, hnsw_ef_construction="64", external_storage=0, pq_enable=0,
                          metadata_indices="page")), adb.runtime)
        assert resp.status_code == 200 and resp.body.status == "success"

    def data(self, **kw) -> dict:
        return dict(dbinstance_id=INSTANCE, region_id=REGION, namespace=self.ns,
                    namespace_password=NS_PASSWORD, collection=self.name, **kw)

    def upsert(self, rows):
        req = gpdb.UpsertCollectionDataRequest(**self.data(rows=[
            gpdb.UpsertCollectionDataRequestRows(id=r.get("Id"), metadata=r["Metadata"], vector=r["Vector"])
            for r in rows]))
        return self.adb.client.upsert_collection_data_with_options(req, self.adb.runtime).body

    def query(self, **kw):
        return self.adb.client.query_collection_data_with_options(
            gpdb.QueryCollectionDataRequest(**self.data(**kw)), self.adb.runtime).body

    def drop(self):
        self.adb.client.delete_collection_with_options(
            gpdb.DeleteCollectionRequest(**self.data()), self.adb.runtime)
        self.adb.client.delete_namespace_with_options(
            gpdb.DeleteNamespaceRequest(**self.adb.manager(namespace=self.ns)), self.adb.runtime)


@pytest.fixture
def http_adb(pier) -> Adb:
    return Adb(pier, "http", None, "acs3")


def client_error(fn) -> ClientException:
    with pytest.raises(ClientException) as err:
        fn()
    return err.value


def test_collection_lifecycle(adb):
    c = Collection(adb, "cosine", parser="zh_cn")
    d = adb.client.describe_collection_with_options(gpdb.DescribeCollectionRequest(**c.data()), adb.runtime).body
    assert (d.dimension, d.metrics, d.parser, d.full_text_retrieval_fields) == (DIM, "cosine", "zh_cn", "title")
    assert d.metadata == {"title": "text", "page": "int", "score": "double precision", "ok": "boolean",
                          "tags": "text[]", "meta": "jsonb"}
    assert d.namespace == c.ns and d.dbinstance_id == INSTANCE and d.support_sparse is False
    listed = adb.client.list_collections_with_options(gpdb.ListCollectionsRequest(
        dbinstance_id=INSTANCE, region_id=REGION, namespace=c.ns, namespace_password=NS_PASSWORD),
        adb.runtime).body
    assert listed.collections.collection == [c.name] and listed.count == 1
    # Same name again: a conflict; the namespace refuses to go while it holds the collection.
    err = client_error(lambda: adb.client.create_collection_with_options(gpdb.CreateCollectionRequest(
        **adb.manager(namespace=c.ns, collection=c.name, dimension=DIM, metadata="{}")), adb.runtime))
    assert err.status_code == 409 and err.code == "Collection.AlreadyExist"
    err = client_error(lambda: adb.client.delete_namespace_with_options(
        gpdb.DeleteNamespaceRequest(**adb.manager(namespace=c.ns)), adb.runtime))
    assert err.status_code == 409 and c.name in err.message
    adb.client.delete_collection_with_options(gpdb.DeleteCollectionRequest(**c.data()), adb.runtime)
    err = client_error(lambda: adb.client.describe_collection_with_options(
        gpdb.DescribeCollectionRequest(**c.data()), adb.runtime))
    assert err.status_code == 404 and err.code == "Collection.NotExist"
    adb.client.delete_namespace_with_options(gpdb.DeleteNamespaceRequest(**adb.manager(namespace=c.ns)), adb.runtime)


def test_create_collection_validates(http_adb):
    adb = http_adb
    ns = unique("ns")
    adb.client.create_namespace_with_options(gpdb.CreateNamespaceRequest(
        **adb.manager(namespace=ns, namespace_password=NS_PASSWORD)), adb.runtime)
    for kw, says in [
        (dict(dimension=3, metadata='{"id":"text"}'), "reserved"),
        (dict(dimension=3, metadata='{"m":"money"}'), "not supported"),
        (dict(dimension=3, metadata='{"a":"text"}', metrics="hamming"), "l2, ip or cosine"),
        (dict(dimension=3, metadata='{"a":"int"}', full_text_retrieval_fields="a"), "not a text column"),
        (dict(metadata='{"a":"text"}'), "Dimension"),
    ]:
        err = client_error(lambda: adb.client.create_collection_with_options(gpdb.CreateCollectionRequest(
            **adb.manager(namespace=ns, collection="c1", **kw)), adb.runtime))
        assert err.status_code == 400 and says in err.message, (kw, err.message)
    adb.client.delete_namespace_with_options(gpdb.DeleteNamespaceRequest(**adb.manager(namespace=ns)), adb.runtime)


@pytest.mark.parametrize("metric", ["l2", "ip", "cosine"])
def test_vector_queries_match_brute_force(http_adb, metric):
    c = Collection(http_adb, metric)
    rows = rows_data()
    assert c.upsert(rows).status == "success"
    q = [0.3, -0.2, 0.9, 0.1]
    got = c.query(vector=q, top_k=5, include_values=True)
    want = brute(rows, q, metric)[:5]
    assert [m.id for m in got.matches.match] == [w[0] for w in want]
    for m, (_, s) in zip(got.matches.match, want):
        assert m.score == pytest.approx(s, rel=1e-4, abs=1e-5)
    first = got.matches.match[0]
    row = next(r for r in rows if r["Id"] == first.id)
    assert first.values.value == pytest.approx(row["Vector"])
    assert {k: v for k, v in first.metadata.items() if k != "score"} == {
        "title": row["Metadata"]["title"], "page": str(row["Metadata"]["page"]),
        "ok": "true" if row["Metadata"]["ok"] else "false",
        "tags": json.dumps(row["Metadata"]["tags"], separators=(",", ":")),
        "meta": json.dumps(row["Metadata"]["meta"], separators=(",", ":"))}
    assert float(first.metadata["score"]) == row["Metadata"]["score"]
    assert first.metadata_v2["page"] == row["Metadata"]["page"] and first.metadata_v2["ok"] is row["Metadata"]["ok"]
    assert first.metadata_v2["meta"] == row["Metadata"]["meta"]

    # Filter, Offset + Total, IncludeMetadataFields, no Values unless asked.
    keep = lambda r: r["Metadata"]["page"] >= 10 and (r["Metadata"]["ok"] or r["Id"] in ("r011", "r013"))
    flt = "page >= 10 AND (ok = true OR id IN ('r011', 'r013'))"
    want = brute(rows, q, metric, keep)
    got = c.query(vector=q, top_k=3, offset=2, filter=flt, include_metadata_fields="page")
    assert [m.id for m in got.matches.match] == [w[0] for w in want[2:5]]
    assert got.total == len(want)
    assert all(set(m.metadata) == {"page"} and m.values is None for m in got.matches.match)
    # LIKE / ILIKE / IS [NOT] NULL.
    for flt, keep in [
        ("title LIKE '%an_na story 1%'", lambda r: r["Metadata"]["title"].startswith("banana story 1")),
        ("title NOT ILIKE 'CHERRY%' AND page < 20", lambda r: not r["Metadata"]["title"].startswith("cherry") and r["Metadata"]["page"] < 20),
        ("page IS NOT NULL AND id LIKE 'r00_'", lambda r: r["Id"] < "r010"),
    ]:
        got = c.query(vector=q, top_k=50, filter=flt)
        assert [m.id for m in got.matches.match] == [w[0] for w in brute(rows, q, metric, keep)], flt
    assert c.query(vector=q, top_k=5, filter="title IS NULL").matches.match == []
    # BETWEEN, NOT, <> and OrderBy (the relevance window, reordered).
    keep = lambda r: 5 <= r["Metadata"]["page"] <= 30 and not r["Metadata"]["title"].startswith("apple")
    apples = ",".join(f"'{r['Metadata']['title']}'" for r in rows if r["Metadata"]["title"].startswith("apple"))
    got = c.query(vector=q, top_k=6, filter=f"page BETWEEN 5 AND 30 AND title NOT IN ({apples})",
                  order_by="page DESC")
    want = sorted(brute(rows, q, metric, keep)[:6], key=lambda w: -int(w[0][1:]))
    assert [m.id for m in got.matches.match] == [w[0] for w in want]
    c.drop()


@pytest.mark.parametrize("metric", ["l2", "ip", "cosine"])
def test_metrics_override_ranks_by_the_requested_metric(http_adb, metric):
    # The index is built for another metric; the query's Metrics wins (an exact scan).
    index_metric = {"l2": "cosine", "ip": "l2", "cosine": "ip"}[metric]
    c = Collection(http_adb, index_metric)
    rows = rows_data()
    c.upsert(rows)
    q = [0.3, -0.2, 0.9, 0.1]
    keep = lambda r: r["Metadata"]["page"] >= 5 and not r["Metadata"]["ok"]
    want = brute(rows, q, metric, keep)
    assert [w[0] for w in want[:6]] != [w[0] for w in brute(rows, q, index_metric, keep)[:6]]
    got = c.query(vector=q, top_k=4, offset=2, metrics=metric, filter="page >= 5 AND ok = false",
                  include_values=True, include_metadata_fields="page")
    assert [m.id for m in got.matches.match] == [w[0] for w in want[2:6]]
    assert got.total == len(want)
    for m, (rid, s) in zip(got.matches.match, want[2:6]):
        assert m.score == pytest.approx(s, rel=1e-4, abs=1e-5)
        assert m.values.value == pytest.approx(next(r["Vector"] for r in rows if r["Id"] == rid))
        assert set(m.metadata) == {"page"}
    # The index's own metric, named, is the index's search.
    same = c.query(vector=q, top_k=3, metrics=index_metric)
    assert [m.id for m in same.matches.match] == [w[0] for w in brute(rows, q, index_metric)[:3]]
    c.drop()


def test_upsert_update_delete(http_adb):
    c = Collection(http_adb, "l2")
    rows = rows_data(12)
    c.upsert(rows)
    # Upsert by Id replaces the row; an empty Id gets a generated UUID.
    c.upsert([{"Id": "r000", "Metadata": {"title": "zebra", "page": 100}, "Vector": [9, 9, 9, 9]},
              {"Metadata": {"title": "nameless", "page": 200}, "Vector": [-9, -9, -9, -9]}])
    got = c.query(vector=[9, 9, 9, 9], top_k=1).matches.match[0]
    assert got.id == "r000" and got.score == pytest.approx(0) and got.metadata["page"] == "100"
    assert "score" not in got.metadata  # the old row's fields are gone
    gen = c.query(vector=[-9, -9, -9, -9], top_k=1).matches.match[0]
    assert re.fullmatch(r"[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}", gen.id)
    no_score = c.query(vector=vec(0), top_k=50, filter="score IS NULL").matches.match
    assert sorted(m.id for m in no_score) == sorted(["r000", gen.id])
    # Dimension is checked and says what is wrong.
    err = client_error(lambda: c.upsert([{"Id": "x", "Metadata": {}, "Vector": [1, 2]}]))
    assert err.status_code == 400 and "Dimension is 4" in err.message

    upd = http_adb.client.update_collection_data_metadata_with_options(gpdb.UpdateCollectionDataMetadataRequest(
        **c.data(ids=["r001", "r002", "missing"], metadata={"page": 7, "title": "kiwi"})), http_adb.runtime).body
    assert upd.applied_rows == 2
    upd = http_adb.client.update_collection_data_metadata_with_options(gpdb.UpdateCollectionDataMetadataRequest(
        **c.data(filter="page = 7 AND title = 'kiwi'", metadata={"ok": True})), http_adb.runtime).body
    assert upd.applied_rows == 2
    got = c.query(vector=vec(1), top_k=1, filter="ok = true AND page = 7").matches.match[0]
    assert got.id == "r001" and got.metadata["title"] == "kiwi" and got.score == pytest.approx(0, abs=1e-3)
    assert c.query(content="kiwi", top_k=5).matches.match[0].id in ("r001", "r002")

    deleted = http_adb.client.delete_collection_data_with_options(gpdb.DeleteCollectionDataRequest(
        **c.data(collection_data_filter="page >= 100 OR id = 'r003'")), http_adb.runtime).body
    assert deleted.applied_rows == 3
    deleted = http_adb.client.delete_collection_data_with_options(gpdb.DeleteCollectionDataRequest(
        **c.data(collection_data=json.dumps({"id": ["r004", "r005", "nope"]}))), http_adb.runtime).body
    assert deleted.applied_rows == 2
    left = c.query(vector=vec(0), top_k=50, offset=0)
    assert left.total == 12 + 1 - 5  # the generated row went with page >= 100
    assert sorted(m.id for m in left.matches.match) == sorted(
        [r["Id"] for r in rows if r["Id"] not in ("r000", "r003", "r004", "r005")])
    # jsonb paths, containment and casts (what Dify and LlamaIndex send).
    odd = [r["Id"] for r in rows if r["Metadata"]["meta"]["k"] == 1 and r["Id"] not in ("r003", "r005")]
    got = c.query(vector=vec(0), top_k=50, filter="meta->>'k' = '1' AND meta->'k' IN ('1', '2')")
    assert sorted(m.id for m in got.matches.match) == odd
    got = c.query(vector=vec(0), top_k=50, filter="meta::jsonb @> '{\"k\": 1}'::jsonb")
    assert sorted(m.id for m in got.matches.match) == odd
    got = c.query(vector=vec(0), top_k=50, filter="NOT meta @> '{\"k\": 1}' AND meta->>'k'::int < 1")
    assert odd and not set(odd) & {m.id for m in got.matches.match}
    # `<@` is `@>` with the operands swapped: the stored object is contained in the constant.
    for flt in ("meta <@ '{\"k\": 1, \"x\": [2]}'", "'{\"k\": 1, \"x\": [2]}'::jsonb @> meta::jsonb",
                "meta->'k' <@ '[1, 3]'"):
        got = c.query(vector=vec(0), top_k=50, filter=flt)
        assert sorted(m.id for m in got.matches.match) == odd, flt
    err = client_error(lambda: c.query(vector=vec(0), top_k=5, filter="page <@ '[1]'"))
    assert err.status_code == 400 and "not a json/jsonb column" in err.message
    c.drop()


def test_modify_collection_and_vector_indexes(adb):
    c = Collection(adb, "l2")
    rows = rows_data(20)
    c.upsert(rows)
    ops = {"operations": [{"operator": "add", "newMetaName": "color", "newMetaType": "text",
                           "fullTextRetrieval": True},
                          {"operator": "add", "newMetaName": "rank", "newMetaType": "bigint"}]}
    resp = adb.client.modify_collection_with_options(gpdb.ModifyCollectionRequest(
        **c.data(metadata=json.dumps(ops))), adb.runtime).body
    assert resp.status == "success"
    assert json.loads(resp.metadata) == {"title": "text", "page": "int", "score": "double precision",
                                         "ok": "boolean", "tags": "text[]", "meta": "jsonb",
                                         "color": "text", "rank": "bigint"}
    d = adb.client.describe_collection_with_options(gpdb.DescribeCollectionRequest(**c.data()), adb.runtime).body
    assert d.metadata["rank"] == "bigint" and d.full_text_retrieval_fields == "title,color"
    # The rows already there keep their data and have no value for the new fields.
    q = [0.3, -0.2, 0.9, 0.1]
    got = c.query(vector=q, top_k=5, filter="color IS NULL AND page < 10")
    assert [m.id for m in got.matches.match] == [w[0] for w in brute(rows, q, "l2",
                                                 lambda r: r["Metadata"]["page"] < 10)[:5]]
    new = {"Id": "new", "Metadata": {"title": "plain", "page": 99, "color": "ultramarine", "rank": 7},
           "Vector": [5, 5, 5, 5]}
    c.upsert([new])
    got = c.query(vector=q, top_k=5, filter="rank > 6").matches.match
    assert [m.id for m in got] == ["new"] and got[0].metadata_v2["color"] == "ultramarine"
    assert [m.id for m in c.query(content="ultramarine", top_k=5).matches.match] == ["new"]
    for op, says in [({"operator": "add", "newMetaName": "page", "newMetaType": "int"}, "already"),
                     ({"operator": "add", "newMetaName": "source", "newMetaType": "int"}, "reserved"),
                     ({"operator": "add", "newMetaName": "n", "newMetaType": "int",
                       "fullTextRetrieval": True}, "not a text column")]:
        err = client_error(lambda: adb.client.modify_collection_with_options(gpdb.ModifyCollectionRequest(
            **c.data(metadata=json.dumps({"operations": [op]}))), adb.runtime))
        assert err.status_code == 400 and says in err.message, (op, err.message)
    with pytest.raises(ServerException) as err:  # 501: not implemented
        adb.client.modify_collection_with_options(gpdb.ModifyCollectionRequest(
            **c.data(metadata=json.dumps({"operations": [{"operator": "replace", "oldMetaName": "page",
                                                          "newMetaName": "pages"}]}))), adb.runtime)
    assert err.value.status_code == 501 and err.value.code == "Unsupported" and "'add'" in err.value.message

    # CreateVectorIndex with another metric and HNSW parameters rebuilds the index: searches
    # without Metrics now rank by it.
    all_rows = rows + [new]
    resp = adb.client.create_vector_index_with_options(gpdb.CreateVectorIndexRequest(
        **adb.manager(namespace=c.ns, collection=c.name, dimension=DIM, metrics="ip", hnsw_m=32,
                      hnsw_ef_construction=100, pq_enable=0)), adb.runtime).body
    assert resp.status == "success"
    d = adb.client.describe_collection_with_options(gpdb.DescribeCollectionRequest(**c.data()), adb.runtime).body
    assert d.metrics == "ip"
    want = brute(all_rows, q, "ip")[:5]
    got = c.query(vector=q, top_k=5).matches.match
    assert [m.id for m in got] == [w[0] for w in want]
    assert [m.score for m in got] == pytest.approx([w[1] for w in want], rel=1e-4)
    err = client_error(lambda: adb.client.create_vector_index_with_options(gpdb.CreateVectorIndexRequest(
        **adb.manager(namespace=c.ns, collection=c.name, dimension=DIM + 1)), adb.runtime))
    assert err.status_code == 400 and f"Dimension {DIM}" in err.message
    err = client_error(lambda: adb.client.create_vector_index_with_options(gpdb.CreateVectorIndexRequest(
        **adb.manager(namespace=c.ns, collection=c.name, dimension=DIM, type="Sparse")), adb.runtime))
    assert err.status_code == 400 and "SupportSparse" in err.message
    err = client_error(lambda: adb.client.create_vector_index_with_options(gpdb.CreateVectorIndexRequest(
        **adb.manager(namespace=c.ns, collection="nope", dimension=DIM)), adb.runtime))
    assert err.status_code == 404 and err.code == "Collection.NotExist"

    # DeleteVectorIndex: the same answers, by exact scans; CreateVectorIndex brings an index back.
    resp = adb.client.delete_vector_index_with_options(gpdb.DeleteVectorIndexRequest(
        **adb.manager(namespace=c.ns, collection=c.name)), adb.runtime).body
    assert resp.status == "success"
    got = c.query(vector=q, top_k=5, filter="page >= 3").matches.match
    assert [m.id for m in got] == [w[0] for w in brute(all_rows, q, "ip", lambda r: r["Metadata"]["page"] >= 3)[:5]]
    adb.client.create_vector_index_with_options(gpdb.CreateVectorIndexRequest(
        **adb.manager(namespace=c.ns, collection=c.name, dimension=DIM, metrics="cosine")), adb.runtime)
    got = c.query(vector=q, top_k=5).matches.match
    assert [m.id for m in got] == [w[0] for w in brute(all_rows, q, "cosine")[:5]]
    c.drop()


def test_full_text_and_hybrid(http_adb):
    c = Collection(http_adb, "cosine")
    rows = rows_data(40)
    c.upsert(rows)
    got = c.query(content="cherry", top_k=100, offset=0)
    cherries = sorted(r["Id"] for r in rows if r["Metadata"]["title"].startswith("cherry"))
    assert sorted(m.id for m in got.matches.match) == cherries and got.total == len(cherries)
    text = c.query(content="cherry", top_k=5, filter="page < 30")
    text_ids = [m.id for m in text.matches.match]
    assert set(text_ids) <= {i for i in cherries if int(i[1:]) < 30} and len(text_ids) == 5
    q = vec(7)
    vec_ids = [w[0] for w in brute(rows, q, "cosine", lambda r: r["Metadata"]["page"] < 30)[:5]]
    # RRF over the two top-5 lists, k=60 by default and as sent.
    for args in (None, {"RRF": {"k": 10}}):
        k = 60 if args is None else 10
        got = c.query(vector=q, content="cherry", top_k=5, filter="page < 30",
                      hybrid_search="RRF", hybrid_search_args=args)
        fused = {}
        for lst in (vec_ids, text_ids):
            for rank, i in enumerate(lst):
                fused[i] = fused.get(i, 0) + 1 / (k + rank + 1)
        want = sorted(fused.items(), key=lambda x: (-x[1], x[0]))[:5]
        assert [m.id for m in got.matches.match] == [w[0] for w in want]
        assert [m.score for m in got.matches.match] == pytest.approx([w[1] for w in want])
    # Weight with alpha=1 is the vector ranking.
    got = c.query(vector=q, content="cherry", top_k=5, filter="page < 30", hybrid_search="Weight",
                  hybrid_search_args={"Weight": {"alpha": 1}})
    assert [m.id for m in got.matches.match][:len(vec_ids)] == vec_ids
    # Cascaded: the full-text hits, ranked by vector.
    got = c.query(vector=q, content="cherry", top_k=3, hybrid_search="Cascaded")
    assert [m.id for m in got.matches.match] == [
        w[0] for w in brute(rows, q, "cosine", lambda r: r["Metadata"]["title"].startswith("cherry"))[:3]]
    # Offset pages the fused list of the best Offset + TopK of each list (here 5, as above);
    # Total counts the rows that pass the filter; OrderBy reorders the page.
    fused = {}
    for lst in (vec_ids, text_ids):
        for rank, i in enumerate(lst):
            fused[i] = fused.get(i, 0) + 1 / (60 + rank + 1)
    want = [w[0] for w in sorted(fused.items(), key=lambda x: (-x[1], x[0]))[2:5]]
    got = c.query(vector=q, content="cherry", top_k=3, offset=2, filter="page < 30")
    assert [m.id for m in got.matches.match] == want and got.total == 30
    got = c.query(vector=q, content="cherry", top_k=3, offset=2, filter="page < 30",
                  order_by="page DESC")
    assert [m.id for m in got.matches.match] == sorted(want, key=lambda i: -int(i[1:]))
    # Full text alone: the same paging and ordering.
    got = c.query(content="cherry", top_k=3, offset=1, filter="page < 30", order_by="page")
    assert [m.id for m in got.matches.match] == sorted(text_ids[1:4], key=lambda i: int(i[1:]))
    assert got.total == len([i for i in cherries if int(i[1:]) < 30])
    c.drop()


# id → (title, dense vector, sparse vector {dimension: value})
SPARSE_ROWS = {
    "a": ("apple pie", [1.0, 0.0], {1: 1.0, 5: 2.0}),
    "b": ("banana bread", [0.0, 1.0], {5: 3.0, 9: 1.0}),
    "c": ("apple tart", [0.5, 0.5], None),
    "d": ("cherry cake", [0.25, 0.5], {1: 0.5, 9: 2.0}),
}


class SparseCollection:
    """An ip collection with SupportSparse, a title column and full-text search on it."""

    def __init__(self, adb: Adb):
        self.adb = adb
        self.ns = unique("ns")
        self.name = unique("sparse")
        adb.client.create_namespace_with_options(gpdb.CreateNamespaceRequest(
            **adb.manager(namespace=self.ns, namespace_password=NS_PASSWORD)), adb.runtime)
        adb.client.create_collection_with_options(gpdb.CreateCollectionRequest(
            **adb.manager(namespace=self.ns, collection=self.name, dimension=2, metrics="ip",
                          metadata=json.dumps({"title": "text"}), full_text_retrieval_fields="title",
                          parser="english", support_sparse=True,
                          sparse_vector_index_config=gpdb.CreateCollectionRequestSparseVectorIndexConfig(
                              algorithm="hnsw", hnsw_ef_construction=64, hnsw_m=16))), adb.runtime)

    def data(self, **kw) -> dict:
        return dict(dbinstance_id=INSTANCE, region_id=REGION, namespace=self.ns,
                    namespace_password=NS_PASSWORD, collection=self.name, **kw)

    def upsert(self, rows: dict):
        def row(i, title, dense, sparse):
            sv = None
            if sparse:
                dims = sorted(sparse)
                sv = gpdb.UpsertCollectionDataRequestRowsSparseVector(
                    indices=dims, values=[sparse[d] for d in dims])
            return gpdb.UpsertCollectionDataRequestRows(id=i, metadata={"title": title}, vector=dense,
                                                        sparse_vector=sv)
        req = gpdb.UpsertCollectionDataRequest(**self.data(rows=[row(i, *r) for i, r in rows.items()]))
        return self.adb.client.upsert_collection_data_with_options(req, self.adb.runtime).body

    def query(self, sparse: dict | None = None, **kw):
        if sparse is not None:
            dims = sorted(sparse)
            kw["sparse_vector"] = gpdb.QueryCollectionDataRequestSparseVector(
                indices=dims, values=[sparse[d] for d in dims])
        return self.adb.client.query_collection_data_with_options(
            gpdb.QueryCollectionDataRequest(**self.data(**kw)), self.adb.runtime).body

    def ranked(self, sparse: dict | None = None, **kw) -> list:
        return [(m.id, m.score) for m in self.query(sparse, **kw).matches.match]


def sparse_brute(rows: dict, q: dict, dense_q=None):
    """(id, score), best first: the sparse inner product (rows sharing a dimension with the
    query), plus the dense inner product of every row when a dense query is given."""
    out = []
    for i, (_, dense, sparse) in rows.items():
        shared = [d for d in q if sparse and d in sparse]
        s = sum(q[d] * sparse[d] for d in shared)
        if dense_q is not None:
            out.append((i, s + sum(a * b for a, b in zip(dense, dense_q))))
        elif shared:
            out.append((i, s))
    return sorted(out, key=lambda x: (-x[1], x[0]))


def assert_ranked(got: list, want: list) -> None:
    assert [g[0] for g in got] == [w[0] for w in want], (got, want)
    assert [g[1] for g in got] == pytest.approx([w[1] for w in want]), (got, want)


def test_sparse_vectors(http_adb):
    adb = http_adb
    c = SparseCollection(adb)
    d = adb.client.describe_collection_with_options(gpdb.DescribeCollectionRequest(**c.data()), adb.runtime).body
    assert d.support_sparse is True and d.sparse_vector_metrics == "ip"
    rows = dict(SPARSE_ROWS)
    c.upsert(rows)
    q = {1: 1.0, 5: 1.0, 9: 0.5}
    want = sparse_brute(rows, q)
    assert want == [("b", 3.5), ("a", 3.0), ("d", 1.5)]  # by hand: 3 + 0.5, 1 + 2, 0.5 + 1
    got = c.query(q, top_k=10, include_sparse_values=True)
    assert_ranked([(m.id, m.score) for m in got.matches.match], want)
    a = got.matches.match[1]
    assert (a.sparse_values.indices.indice, a.sparse_values.values.value) == ([1, 5], [1.0, 2.0])
    assert a.values is None
    # Dense plus sparse: the scores add up.
    dense = [1.0, 0.25]
    want = sparse_brute(rows, q, dense)
    assert [w[0] for w in want] == ["a", "b", "d", "c"]  # 1 + 3, 0.25 + 3.5, 0.375 + 1.5, 0.625
    assert_ranked(c.ranked(q, vector=dense, top_k=3), want[:3])
    assert_ranked(c.ranked(q, vector=dense, top_k=10, filter="title LIKE '%apple%'"),
                  [w for w in want if w[0] in ("a", "c")])
    # With Content: RRF over the sparse list and the full-text list.
    text = [m.id for m in c.query(content="apple", top_k=10).matches.match]
    assert sorted(text) == ["a", "c"]
    fused = {}
    for lst in ([w[0] for w in sparse_brute(rows, q)], text):
        for rank, i in enumerate(lst):
            fused[i] = fused.get(i, 0) + 1 / (60 + rank + 1)
    assert_ranked(c.ranked(q, content="apple", top_k=10, hybrid_search="RRF"),
                  sorted(fused.items(), key=lambda x: (-x[1], x[0])))
    # Bad sparse vectors are refused and say why.
    err = client_error(lambda: c.query(top_k=1, sparse_vector=gpdb.QueryCollectionDataRequestSparseVector(
        indices=[5, 1], values=[1.0, 1.0])))
    assert err.status_code == 400 and "sorted ascending" in err.message
    err = client_error(lambda: c.upsert({"x": ("t", [0.0, 0.0], {d: 1.0 for d in range(4001)})}))
    assert err.status_code == 400 and "the limit is 4000" in err.message
    # An upsert replaces the sparse vector; a delete removes it.
    rows["a"] = ("apple pie", [1.0, 0.0], {9: 4.0})
    c.upsert({"a": rows["a"]})
    adb.client.delete_collection_data_with_options(gpdb.DeleteCollectionDataRequest(
        **c.data(collection_data=json.dumps({"id": ["b"]}))), adb.runtime)
    del rows["b"]
    want = sparse_brute(rows, q)
    assert want == [("a", 2.0), ("d", 1.5)]
    assert_ranked(c.ranked(q, top_k=10), want)


def test_sparse_vectors_in_an_upload_job(http_adb, tmp_path):
    """The JSONL rows of UpsertCollectionDataAsync carry SparseVector like Rows do."""
    adb = http_adb
    c = SparseCollection(adb)
    lines = [{"Id": i, "Metadata": {"title": t}, "Vector": v,
              **({"SparseVector": {"Indices": sorted(sp), "Values": [sp[d] for d in sorted(sp)]}} if sp else {})}
             for i, (t, v, sp) in SPARSE_ROWS.items()]
    (tmp_path / "rows.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    handler.log_message = lambda *a: None
    files = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=files.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{files.server_address[1]}/rows.jsonl"
        job_id = adb.client.upsert_collection_data_async_with_options(
            gpdb.UpsertCollectionDataAsyncRequest(**c.data(file_url=url)), adb.runtime).body.job_id
        deadline = time.monotonic() + 60
        while True:
            job = adb.client.get_upsert_collection_data_job_with_options(
                gpdb.GetUpsertCollectionDataJobRequest(**c.data(job_id=job_id)), adb.runtime).body.job
            if job.completed:
                break
            assert time.monotonic() < deadline, job.status
            time.sleep(0.1)
        assert (job.status, job.progress) == ("Success", len(lines)), job.error
    finally:
        files.shutdown()
    q = {1: 1.0, 5: 1.0, 9: 0.5}
    assert_ranked(c.ranked(q, top_k=10), sparse_brute(SPARSE_ROWS, q))


def test_sparse_search_survives_a_restart(tmp_path):
    server = Pier(pier_bin(), tmp_path)
    server.start()
    try:
        adb = Adb(server, "http", None, "acs3")
        c = SparseCollection(adb)
        c.upsert(SPARSE_ROWS)
        q = {1: 1.0, 9: 1.5}
        want = sparse_brute(SPARSE_ROWS, q)
        assert want == [("d", 3.5), ("b", 1.5), ("a", 1.0)]
        assert_ranked(c.ranked(q, top_k=10), want)
        server.stop()
        server.start()
        assert_ranked(c.ranked(q, top_k=10), want)
        assert_ranked(c.ranked(q, vector=[0.0, 1.0], top_k=2), sparse_brute(SPARSE_ROWS, q, [0.0, 1.0])[:2])
    finally:
        server.stop()
