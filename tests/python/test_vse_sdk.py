"""The official Vector Search Edition SDK (alibabacloud-ha3engine-vector, unmodified) against pier.

The client is configured as the cloud's documentation shows it, with pier's endpoint and an access
key pair as the user name and password (pier's Basic auth checks its own access keys). The SDK
pushes through /update/{instance}_{table}/actions/bulk with X-Opensearch-Swift-PK-Field and
X-Opensearch-Validate-Data, and queries /vector-service/*; the answers are checked against exact
nearest neighbours computed here.
"""

from __future__ import annotations

import json
import math
import random
import re
import time

import pytest
import requests
from alibabacloud_ha3engine_vector import models
from alibabacloud_ha3engine_vector.client import Client
from Tea.exceptions import TeaException

from conftest import Pier, pier_bin

DIM = 8
N = 500

TABLE = {
    "name": "sdkvec",
    "primaryKey": "id",
    "fieldSchema": {"id": "INT64", "cate_id": "INT32", "title": "STRING", "body": "TEXT",
                    "vector": "MULTI_FLOAT"},
    "vectorIndex": [{"indexName": "vector", "vectorField": "vector", "dimension": str(DIM),
                     "distanceType": "SquaredEuclidean", "vectorIndexType": "HNSW",
                     "advanceParams": {"linearBuildThreshold": 100}}],
}


def vec(i: int) -> list[float]:
    rnd = random.Random(i)
    return [round(rnd.uniform(-1, 1), 4) for _ in range(DIM)]


def l2(a, b) -> float:
    return sum((x - y) ** 2 for x, y in zip(a, b))


def client_for(pier, user: str | None = None, password: str | None = None) -> Client:
    return Client(models.Config(
        endpoint=pier.endpoint,
        instance_id="ha-cn-pier",
        protocol="http",
        access_user_name=pier.key_id if user is None else user,
        access_pass_word=pier.secret if password is None else password,
    ))


def body(resp) -> dict:
    return json.loads(resp.body)


@pytest.fixture(scope="module")
def table(pier):
    r = pier.post("/api/v1/vector-tables", json=TABLE)
    assert r.status_code == 201, r.text
    client = client_for(pier)
    docs = [{"cmd": "add", "fields": {"id": i, "cate_id": i % 4, "title": f"t{i}",
                                      "body": "apple pie" if i % 25 == 0 else "plain text",
                                      "vector": vec(i)}}
            for i in range(N)]
    for start in range(0, N, 200):
        resp = client.push_documents("ha-cn-pier_sdkvec", "id",
                                     models.PushDocumentsRequest({}, docs[start:start + 200]))
        assert json.loads(resp.body)["code"] == 200
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        stats = body(client.stats("sdkvec"))
        if stats["result"]["totalDocCount"] == N:
            break
        time.sleep(0.1)
    else:
        pytest.fail(f"documents not searchable: {stats}")
    yield client
    pier.delete("/api/v1/vector-tables/sdkvec")


def exact(q, k, keep=lambda i: True):
    return [i for _, i in sorted((l2(vec(i), q), i) for i in range(N) if keep(i))][:k]


def test_query_returns_the_nearest_documents(table):
    q = vec(10_000)
    resp = table.query(models.QueryRequest(table_name="sdkvec", vector=q, top_k=10,
                                           output_fields=["title"], include_vector=True))
    res = body(resp)
    ids = [h["id"] for h in res["result"]]
    truth = exact(q, 10)
    assert len(set(ids) & set(truth)) >= 9, (ids, truth)
    assert res["totalCount"] == 10 and "errorCode" not in res
    top = res["result"][0]
    assert top["fields"] == {"title": f"t{top['id']}"}
    assert math.isclose(top["score"], l2(vec(top["id"]), q), rel_tol=1e-4)
    assert top["vector"] == pytest.approx(vec(top["id"]), abs=1e-6)


def test_query_with_filter_and_threshold(table):
    q = vec(20_000)
    res = body(table.query(models.QueryRequest(table_name="sdkvec", vector=q, top_k=5,
                                               filter="cate_id=3")))
    ids = [h["id"] for h in res["result"]]
    assert all(i % 4 == 3 for i in ids), ids
    assert len(set(ids) & set(exact(q, 5, lambda i: i % 4 == 3))) >= 4
    th = l2(vec(ids[1]), q) + 1e-6
    res = body(table.query(models.QueryRequest(table_name="sdkvec", vector=q, top_k=5,
                                               filter="cate_id=3", score_threshold=th)))
    assert [h["id"] for h in res["result"]] == ids[:2]


def test_fetch_and_multi_query(table):
    res = body(table.fetch(models.FetchRequest(table_name="sdkvec", ids=["5", "7", "99999"])))
    assert [h["id"] for h in res["result"]] == [5, 7]
    assert res["result"][0]["fields"]["cate_id"] == 1
    res = body(table.fetch(models.FetchRequest(table_name="sdkvec", filter="cate_id=2",
                                               sort="-id", limit=3, offset=0)))
    assert [h["id"] for h in res["result"]] == [498, 494, 490]
    q1, q2 = vec(30_000), vec(30_001)
    res = body(table.multi_query(models.MultiQueryRequest(
        table_name="sdkvec", top_k=3, order="ASC",
        queries=[models.QueryRequest(table_name="sdkvec", vector=q1, top_k=N),
                 models.QueryRequest(table_name="sdkvec", vector=q2, top_k=N)])))
    truth = [i for _, i in sorted((l2(vec(i), q1) + l2(vec(i), q2), i) for i in range(N))][:3]
    assert [h["id"] for h in res["result"]] == truth


def test_hybrid_search(table):
    q = vec(40_000)
    res = body(table.search(models.SearchRequest(
        table_name="sdkvec", size=30,
        knn=models.QueryRequest(table_name="sdkvec", vector=q, top_k=5),
        text=models.TextQuery(query_string="body:'apple'"),
        rank=models.RankQuery(rrf={"rankConstant": "60"}))))
    sources = {h["id"]: h["__source__"] for h in res["result"]}
    apple = {i for i in range(N) if i % 25 == 0}
    assert {i for i, s in sources.items() if s in (2, 3)} == apple
    assert len([s for s in sources.values() if s in (1, 3)]) == 5


def test_aggregate_through_the_sdk(table):
    res = body(table.aggregate(models.AggregateRequest(
        table_name="sdkvec", filter="id < 100", group_keys=["cate_id"],
        agg_funcs=[models.AggFuncDesc(func="count", args=["*"]),
                   models.AggFuncDesc(func="sum", args=["id"]),
                   models.AggFuncDesc(func="avg", args=["id"], name="mean"),
                   models.AggFuncDesc(func="max", args=["id"]),
                   models.AggFuncDesc(func="min", args=["id"])],
        order_by=[models.OrderByDesc(field="sum(id)", direction="DESC")])))
    want = []
    for c in range(4):
        ids = [i for i in range(100) if i % 4 == c]
        want.append({"cate_id": c, "count(*)": len(ids), "sum(id)": sum(ids),
                     "mean": sum(ids) / len(ids), "max(id)": max(ids), "min(id)": min(ids)})
    want.sort(key=lambda r: -r["sum(id)"])
    assert res["result"] == want
    assert res["totalCount"] == 4 and "errorCode" not in res
    # No group keys: one row over the matches.
    res = body(table.aggregate(models.AggregateRequest(
        table_name="sdkvec", filter="cate_id = 1 AND id < 40",
        agg_funcs=[models.AggFuncDesc(func="count", args=["*"], name="n")])))
    assert res["result"] == [{"n": 10}]
    with pytest.raises(TeaException) as e:
        table.aggregate(models.AggregateRequest(
            table_name="sdkvec", group_keys=["body"],
            agg_funcs=[models.AggFuncDesc(func="count", args=["*"])]))
    assert e.value.code == 400
    assert e.value.data["errors"]["errorCode"] == 6127


def test_sort_and_sorts_reorder_the_recalled_top_k(table):
    q = vec(50_000)
    plain = body(table.query(models.QueryRequest(table_name="sdkvec", vector=q, top_k=12)))
    recalled = {h["id"]: h["score"] for h in plain["result"]}
    assert len(recalled) == 12
    # `sort`: the same candidates, by category ascending then nearest first; scores unchanged.
    res = body(table.query(models.QueryRequest(table_name="sdkvec", vector=q, top_k=12,
                                               sort="+cate_id;+RANK")))
    ids = [h["id"] for h in res["result"]]
    assert ids == sorted(recalled, key=lambda i: (i % 4, recalled[i]))
    assert all(h["score"] == recalled[h["id"]] for h in res["result"])
    # `sorts`: the score becomes one value per key.
    res = body(table.query(models.QueryRequest(
        table_name="sdkvec", vector=q, top_k=12,
        sorts=[models.Sort(order="DESC", expression="cate_id"),
               models.Sort(order="ASC", expression="RANK")])))
    ids = [h["id"] for h in res["result"]]
    assert ids == sorted(recalled, key=lambda i: (-(i % 4), recalled[i]))
    for h in res["result"]:
        assert h["score"][0] == h["id"] % 4
        assert math.isclose(h["score"][1], l2(vec(h["id"]), q), rel_tol=1e-4)
    # Multi-query: the merged top 5 (as merged without a sort), ordered by id.
    q2 = vec(50_001)

    def merged(**kw):
        return body(table.multi_query(models.MultiQueryRequest(
            table_name="sdkvec", top_k=5,
            queries=[models.QueryRequest(table_name="sdkvec", vector=q, top_k=50),
                     models.QueryRequest(table_name="sdkvec", vector=q2, top_k=50)], **kw)))
    plain = {h["id"]: h["score"] for h in merged()["result"]}
    res = merged(sort="+id")["result"]
    assert [h["id"] for h in res] == sorted(plain) and len(plain) == 5
    assert all(h["score"] == plain[h["id"]] for h in res)


def test_updates_and_deletes_through_the_sdk(table):
    table.push_documents("ha-cn-pier_sdkvec", "id", models.PushDocumentsRequest({}, [
        {"cmd": "add", "fields": {"id": 100_001, "cate_id": 0, "vector": [9.0] * DIM}},
    ]))
    deadline = time.monotonic() + 30
    while True:
        res = body(table.query(models.QueryRequest(table_name="sdkvec", vector=[9.0] * DIM, top_k=1)))
        if res["result"] and res["result"][0]["id"] == 100_001:
            break
        assert time.monotonic() < deadline, res
        time.sleep(0.05)
    table.push_documents("ha-cn-pier_sdkvec", "id", models.PushDocumentsRequest({}, [
        {"cmd": "delete", "fields": {"id": 100_001}},
    ]))
    while True:
        res = body(table.query(models.QueryRequest(table_name="sdkvec", vector=[9.0] * DIM, top_k=1)))
        # While the delete is being applied the one hit may already be gone from the store.
        if res["result"] and res["result"][0]["id"] != 100_001:
            break
        assert time.monotonic() < deadline, res
        time.sleep(0.05)


def test_errors_reach_the_sdk_as_documented(pier, table):
    with pytest.raises(TeaException) as e:
        table.query(models.QueryRequest(table_name="sdkvec", vector=[1.0, 2.0], top_k=1))
    assert e.value.code == 400
    assert "dimension" in json.dumps(e.value.data["errors"])
    with pytest.raises(TeaException) as e:
        client_for(pier, password="wrong").query(
            models.QueryRequest(table_name="sdkvec", vector=vec(1), top_k=1))
    assert e.value.code == 401
    assert e.value.data["errors"]["errorCode"] == 4001
    with pytest.raises(TeaException) as e:
        table.push_documents("ha-cn-pier_nosuch", "id", models.PushDocumentsRequest({}, [
            {"cmd": "add", "fields": {"id": 1}}]))
    assert e.value.code == 404
    assert e.value.data["errors"] == [{"code": 3012, "message": "Resource not found."}]


def test_tables_through_the_management_api(pier):
    client = client_for(pier)
    request = models.CreateTableRequest(
        name="sdkmgmt", primary_key="pk", partition_count=1,
        field_schema={"pk": "STRING", "tag": "STRING", "emb": "MULTI_FLOAT"},
        vector_index=[models.CreateTableRequestVectorIndex(
            index_name="emb", vector_field="emb", dimension="3",
            distance_type="InnerProduct", vector_index_type="HNSW")])
    request.dry_run = True
    client.create_table(request)
    assert "sdkmgmt" not in [t.name for t in client.list_tables().body.result], "a dry run creates nothing"
    request.dry_run = False
    client.create_table(request)
    assert "sdkmgmt" in [t.name for t in client.list_tables().body.result]
    got = client.get_table("sdkmgmt").body.result
    assert (got.name, got.primary_key, got.field_schema["emb"]) == ("sdkmgmt", "pk", "MULTI_FLOAT")
    assert got.vector_index[0].dimension == "3" and got.vector_index[0].distance_type == "InnerProduct"
    with pytest.raises(TeaException) as e:
        client.create_table(request)
    assert e.value.code == 409
    client.push_documents("ha-cn-pier_sdkmgmt", "pk", models.PushDocumentsRequest({}, [
        {"cmd": "add", "fields": {"pk": "a", "tag": "x", "emb": [1, 0, 0]}}]))
    client.delete_table("sdkmgmt")
    assert "sdkmgmt" not in [t.name for t in client.list_tables().body.result]
    with pytest.raises(TeaException) as e:
        client.get_table("sdkmgmt")
    assert e.value.code == 404 and e.value.data["code"] == "Table.NotFound"


def test_console_search_speaks_the_vector_query_language(pier, table):
    console = requests.Session()
    r = console.post(pier.url("/login"), data={"key_id": pier.key_id, "secret": pier.secret, "next": "/"})
    assert r.status_code == 200
    q = vec(10_000)
    page = pier.url("/apps/vse%2Fsdkvec/search")
    r = console.get(page, params={"q": json.dumps({"vector": q, "topK": 3, "filter": "cate_id=3",
                                                   "outputFields": ["title"]})})
    assert r.status_code == 200 and "Vector query (JSON)" in r.text
    ids = [int(i) for i in re.findall(r"<td><code>([^<]*)</code></td>", r.text)]
    assert len(ids) == 3 and all(i % 4 == 3 for i in ids), ids
    assert f"<td>t{ids[0]}</td>" in r.text
    r = console.get(page, params={"q": "{not json"})
    assert 'role="alert"' in r.text and "not a JSON object" in r.text


SPARSE_TABLE = {
    "name": "sdksparse",
    "primaryKey": "id",
    "fieldSchema": {"id": "INT64", "cate": "INT32", "vector": "MULTI_FLOAT",
                    "sidx": "MULTI_INT64", "sval": "MULTI_FLOAT"},
    "vectorIndex": [{"indexName": "v", "vectorField": "vector", "dimension": "2",
                     "distanceType": "InnerProduct", "sparseIndexField": "sidx",
                     "sparseValueField": "sval"}],
}

# id → (cate, dense vector, sparse vector {dimension: value})
SPARSE_DOCS = {
    1: (0, [1.0, 0.0], {1: 1.0, 5: 2.0}),
    2: (1, [0.0, 1.0], {5: 3.0, 9: 1.0}),
    3: (0, [0.5, 0.5], {2: 4.0}),
    4: (1, [1.0, 1.0], None),
    5: (0, [0.25, 0.5], {1: 0.5, 9: 2.0}),
}


def sparse_doc(i: int, cate: int, dense: list[float], sparse: dict | None) -> dict:
    fields = {"id": i, "cate": cate, "vector": dense}
    if sparse:
        fields["sidx"] = sorted(sparse)
        fields["sval"] = [sparse[d] for d in sorted(sparse)]
    return {"cmd": "add", "fields": fields}


def sparse_truth(docs: dict, query: dict, dense_q: list[float] | None = None, keep=lambda i: True):
    """(id, score), best first: the inner product with the sparse query (documents sharing a
    dimension with it) plus, with a dense query, the dense inner product (every document)."""
    out = []
    for i, (_, dense, sparse) in docs.items():
        if not keep(i):
            continue
        shared = [d for d in query if sparse and d in sparse]
        s = sum(query[d] * sparse[d] for d in shared)
        if dense_q is not None:
            out.append((i, s + sum(a * b for a, b in zip(dense, dense_q))))
        elif shared:
            out.append((i, s))
    return sorted(out, key=lambda x: (-x[1], x[0]))


def same(got: list, want: list) -> None:
    assert [g[0] for g in got] == [w[0] for w in want], (got, want)
    assert [g[1] for g in got] == pytest.approx([w[1] for w in want]), (got, want)


def sparse_query(client, query: dict, dense=None, **kw):
    dims = sorted(query)
    res = body(client.query(models.QueryRequest(
        table_name="sdksparse", vector=dense if dense is not None else [],
        sparse_data=models.SparseData(indices=dims, values=[query[d] for d in dims]), **kw)))
    assert "errorCode" not in res, res
    return [(h["id"], h["score"]) for h in res["result"]]


def test_sparse_queries_through_the_sdk_and_across_a_restart(tmp_path):
    """Sparse-only and dense+sparse queries against scores computed here; a delete and an
    upsert take the old sparse vectors out; a restart (in-memory sparse index rebuilt from the
    store) answers the same."""
    server = Pier(pier_bin(), tmp_path)
    server.start()
    try:
        r = server.post("/api/v1/vector-tables", json=SPARSE_TABLE)
        assert r.status_code == 201, r.text
        client = client_for(server)
        docs = dict(SPARSE_DOCS)
        resp = client.push_documents("ha-cn-pier_sdksparse", "id", models.PushDocumentsRequest(
            {}, [sparse_doc(i, *d) for i, d in docs.items()]))
        assert json.loads(resp.body)["code"] == 200
        # Filters see the text index's last commit: wait until it holds every document.
        deadline = time.monotonic() + 30
        while body(client.stats("sdksparse"))["result"]["totalDocCount"] != len(docs):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        q = {1: 1.0, 5: 1.0, 9: 0.5}

        def until(want, *args, **kw):
            deadline = time.monotonic() + 30
            while True:
                got = sparse_query(client, *args, **kw)
                if [g[0] for g in got] == [w[0] for w in want]:
                    same(got, want)
                    return
                assert time.monotonic() < deadline, (got, want)
                time.sleep(0.05)

        want = sparse_truth(docs, q)
        assert want == [(2, 3.5), (1, 3.0), (5, 1.5)]  # by hand: 1·3 + 0.5·1, 1·1 + 1·2, 1·0.5 + 0.5·2
        until(want, q, top_k=10)
        same(sparse_query(client, q, top_k=10, filter="cate=0"),
             sparse_truth(docs, q, keep=lambda i: docs[i][0] == 0))
        dense = [1.0, 0.25]
        want = sparse_truth(docs, q, dense)
        assert [w[0] for w in want] == [1, 2, 5, 4, 3]  # 1 + 3, 0.25 + 3.5, 0.375 + 1.5, 1.25, 0.625
        same(sparse_query(client, q, dense, top_k=4), want[:4])
        with pytest.raises(TeaException) as e:
            client.query(models.QueryRequest(table_name="sdksparse", vector=[], sparse_data=models.SparseData(
                indices=[5, 1], values=[1.0, 1.0])))
        assert e.value.code == 400 and "sorted ascending" in json.dumps(e.value.data["errors"])

        # Delete 2, give 1 another sparse vector: their old dimensions no longer score.
        client.push_documents("ha-cn-pier_sdksparse", "id", models.PushDocumentsRequest({}, [
            {"cmd": "delete", "fields": {"id": 2}}, sparse_doc(1, 0, [1.0, 0.0], {9: 1.0})]))
        del docs[2]
        docs[1] = (0, [1.0, 0.0], {9: 1.0})
        want = sparse_truth(docs, q)
        assert want == [(5, 1.5), (1, 0.5)]
        until(want, q, top_k=10)

        server.stop()
        server.start()
        until(want, q, top_k=10)
        until(sparse_truth(docs, q, dense)[:3], q, dense, top_k=3)
    finally:
        server.stop()
