"""The official Retrieval Engine Edition SDK (alibabacloud-ha3engine, unmodified) against pier.

The client is configured as the cloud's documentation shows it, with pier's endpoint and an access
key pair as the user name and password. It pushes through /update/{instance}_{table}/actions/bulk
and searches with `search()`: the ha3 query form, GET /query?query=<assembled clauses> (the
default) and POST /query {"assemblyQuery"}. Answers are checked against what the pushed documents
must give; `cluster` names the table (the session's server holds other tests' tables too).
"""

from __future__ import annotations

import json
import time

import pytest
from alibabacloud_ha3engine import models
from alibabacloud_ha3engine.client import Client
from Tea.exceptions import TeaException

N = 60
TABLE = {
    "name": "ha3sdk",
    "primaryKey": "id",
    "fieldSchema": {"id": "INT64", "cate_id": "INT32", "title": "STRING", "body": "TEXT",
                    "vector": "MULTI_FLOAT"},
    "vectorIndex": [{"indexName": "vector", "vectorField": "vector", "dimension": "2",
                     "distanceType": "SquaredEuclidean"}],
}


# The SDK requires a config clause (start 0, hit 10, format json when left empty).
CONFIG = models.HaQueryconfigClause()


def client_for(pier, password: str | None = None) -> Client:
    return Client(models.Config(
        endpoint=pier.endpoint,
        instance_id="ha-cn-pier",
        protocol="http",
        access_user_name=pier.key_id,
        access_pass_word=pier.secret if password is None else password,
    ))


def search(client: Client, query: models.HaQuery, method: str = "GET") -> dict:
    assembled = client.build_ha_search_query(query)
    req = models.SearchRequestModel({}, models.SearchQuery(query=assembled), method=method)
    return json.loads(client.search(req).body)


def ids(res: dict) -> list[int]:
    return [int(item["fields"]["id"]) for item in res["result"]["items"]]


@pytest.fixture(scope="module")
def client(pier):
    r = pier.post("/api/v1/vector-tables", json=TABLE)
    assert r.status_code == 201, r.text
    c = client_for(pier)
    docs = [{"cmd": "add", "fields": {"id": i, "cate_id": i % 3, "title": f"t{i}",
                                      "body": "green apple" if i % 4 == 0 else "other words",
                                      "vector": [float(i), 0.0]}}
            for i in range(N)]
    resp = c.push_documents("ha-cn-pier_ha3sdk", "id", models.PushDocumentsRequestModel({}, docs))
    assert json.loads(resp.body)["code"] == 200
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        res = search(c, models.HaQuery(query="body:'apple'", cluster="ha3sdk",
                                       config=models.HaQueryconfigClause(hit="1")))
        if res["result"]["totalHits"] == N // 4:
            break
        time.sleep(0.1)
    else:
        pytest.fail(f"documents not searchable: {res}")
    yield c
    pier.delete("/api/v1/vector-tables/ha3sdk")


def test_get_search_with_every_clause(client):
    # Apple documents are i % 4 == 0; with cate_id 0 also i % 3 == 0: 0, 12, 24, 36, 48.
    q = models.HaQuery(
        query="body:'apple'",
        cluster="ha3sdk",
        config=models.HaQueryconfigClause(start="0", hit="3", format="json",
                                          custom_config={"rerank_size": "200"}),
        filter="cate_id=0",
        sort=[models.HaQuerySortClause(sort_key="id", sort_order="-")],
        aggregate=[models.HaQueryAggregateClause(group_key="cate_id", agg_fun="count()#max(id)")],
        kvpairs={"k1": "v1"},
    )
    res = search(client, q)
    assert res["errors"] == [], res
    assert ids(res) == [48, 36, 24]
    assert res["result"]["totalHits"] == 5 and res["result"]["numHits"] == 3
    item = res["result"]["items"][0]
    assert item["fields"] == {"id": "48", "cate_id": "0", "title": "t48", "body": "green apple"}
    assert item["sortExprValues"] == ["48"]
    assert res["result"]["facet"] == [
        {"key": "cate_id", "items": [{"value": "0", "count": "5", "max": "48"}]}]


def test_post_search_pages_and_distinct(client):
    q = models.HaQuery(
        query="body:'apple'",
        cluster="ha3sdk",
        config=models.HaQueryconfigClause(start="2", hit="4"),
        sort=[models.HaQuerySortClause(sort_key="id", sort_order="+")],
    )
    res = search(client, q, method="POST")
    assert res["errors"] == [], res
    assert ids(res) == [8, 12, 16, 20]
    assert res["result"]["totalHits"] == N // 4
    # One document per cate_id (distinct, the others not kept), best id first.
    q = models.HaQuery(
        query="body:'apple'",
        cluster="ha3sdk",
        config=models.HaQueryconfigClause(hit="10"),
        sort=[models.HaQuerySortClause(sort_key="id", sort_order="-")],
        distinct=[models.HaQueryDistinctClause(dist_key="cate_id", dist_count="1", dist_times="1",
                                                  reserved="false")],
    )
    res = search(client, q)
    assert ids(res) == [56, 52, 48], res


def test_errors_raise_with_the_ha3_body(client, pier):
    with pytest.raises(TeaException) as e:
        search(client, models.HaQuery(query="nosuch:'x'", cluster="ha3sdk", config=CONFIG))
    assert e.value.code == 400
    assert e.value.data["errors"]["errors"][0]["code"] == 6101
    with pytest.raises(TeaException) as e:
        search(client, models.HaQuery(query="body:'apple'", cluster="nosuch", config=CONFIG))
    assert e.value.code == 404
    errors = e.value.data["errors"]["errors"]
    assert errors[0]["code"] == 3012 and "ha3sdk" in errors[0]["message"], errors
    with pytest.raises(TeaException) as e:
        search(client_for(pier, password="wrong"), models.HaQuery(query="body:'apple'", config=CONFIG))
    assert e.value.code == 401


def test_vector_query_in_the_ha3_form(client):
    # Document i has the vector [i, 0]: the nearest to [5.2, 0] are 5, 6, 4, then 7.
    q = models.HaQuery(query="vector:'5.2,0&n=3'", cluster="ha3sdk",
                       config=models.HaQueryconfigClause(hit="10"))
    res = search(client, q)
    assert res["errors"] == [], res
    assert ids(res) == [5, 6, 4]
    assert [float(i["sortExprValues"][0]) for i in res["result"]["items"]] == pytest.approx(
        [0.04, 0.64, 1.44], abs=1e-3)
    q = models.HaQuery(query="vector:'5.2,0&n=4'", cluster="ha3sdk", filter="cate_id=1",
                       config=models.HaQueryconfigClause(hit="10"))
    assert ids(search(client, q, method="POST")) == [4, 7, 1, 10]


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_sql_form(client, method):
    sql = client.build_sqlsearch_query(models.SQLQuery(
        query="SELECT id, title FROM ha3sdk WHERE cate_id = 2 ORDER BY id LIMIT 3",
        kvpairs={"formatType": "full_json"}))
    req = models.SearchRequestModel({}, models.SearchQuery(sql=sql), method=method)
    res = json.loads(client.search(req).body)
    assert res["error_info"]["ErrorCode"] == 0, res
    assert res["sql_result"]["column_name"] == ["id", "title"]
    assert res["sql_result"]["data"] == [[2, "t2"], [5, "t5"], [8, "t8"]]
    assert res["row_count"] == 3
