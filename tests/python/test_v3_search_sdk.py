"""End-to-end: V3 searches signed by the official OpenSearch Tea client stack against a running pier.

The generated client's `search` is `_request("GET", "/v3/openapi/apps/{app}/search", query, headers, None)`:
the same path as `push_document` without a body, so it is built with `build_tea_request` from the push
suite (the official libraries, unmodified). Both GET renderings are covered: the Tea one (no Content-Type)
and the Java SDK's (a Content-Type header on GET, which is part of the signed string).
"""

from __future__ import annotations

import json

import pytest
from Tea.exceptions import TeaException

from test_v3_push_sdk import WAIT_VISIBLE, assert_push_ok, build_tea_request, send_tea_request

SCHEMA = {
    "tables": {"main": {"name": "main", "primaryTable": True, "fields": {
        "id": {"name": "id", "type": "LITERAL", "primaryKey": True},
        "title": {"name": "title", "type": "TEXT"},
        "title_en": {"name": "title_en", "type": "TEXT"},
        "price": {"name": "price", "type": "INT"},
        "brand": {"name": "brand", "type": "LITERAL"},
        "tags": {"name": "tags", "type": "LITERAL_ARRAY"},
    }}},
    "indexes": {
        "searchFields": {"default": {"fields": ["title"], "analyzer": "chn_standard"},
                         "en": {"fields": ["title_en"], "analyzer": "en_standard"}},
        "filterFields": ["price", "brand", "tags"],
    },
}

DOCS = [
    {"cmd": "add", "fields": {"id": "1", "title": "北京大学百年校庆", "title_en": "Peking University celebrates",
                              "price": 100, "brand": "Apple", "tags": ["a", "b"]}},
    {"cmd": "add", "fields": {"id": "2", "title": "苹果手机充电器", "title_en": "Apple phone chargers",
                              "price": 50, "brand": "Apple", "tags": ["c"]}},
    {"cmd": "add", "fields": {"id": "3", "title": "华为手机", "title_en": "Huawei phones", "price": 300,
                              "brand": "Huawei", "tags": ["a"]}},
]


class Searcher:
    def __init__(self, pier):
        self.pier = pier

    def search(self, app: str, query: dict, headers: dict | None = None) -> dict:
        request = build_tea_request(self.pier.endpoint, self.pier.key_id, self.pier.secret, "GET",
                                    f"/v3/openapi/apps/{app}/search", query, headers, None)
        return send_tea_request(request)["body"]

    def push(self, app: str, table: str, docs) -> None:
        request = build_tea_request(self.pier.endpoint, self.pier.key_id, self.pier.secret, "POST",
                                    f"/v3/openapi/apps/{app}/{table}/actions/bulk", None, WAIT_VISIBLE, docs)
        assert_push_ok(send_tea_request(request))


@pytest.fixture
def shop(pier, make_app):
    app = make_app(SCHEMA)
    s = Searcher(pier)
    s.push(app, "main", DOCS)
    return s, app


def ids(body: dict) -> list[str]:
    return [(item.get("fields") or item)["id"] for item in body["result"]["items"]]


def test_chinese_term_search(shop):
    s, app = shop
    body = s.search(app, {"query": "query=default:'北京大学'&&config=start:0,hit:10,format:json"})
    assert body["status"] == "OK", body
    assert ids(body) == ["1"]
    assert body["result"]["total"] == 1
    item = body["result"]["items"][0]
    assert item["price"] == "100" and item["tags"] == "a\tb" and item["index_name"] == app


def test_filter_sort_fetch_fields_fulljson(shop):
    s, app = shop
    body = s.search(app, {
        "query": "config=format:fulljson&&query=en:'phone'&&filter=price>10 AND brand=\"Huawei\" OR tags=\"c\"&&sort=-price",
        "fetch_fields": "id;price",
    })
    assert ids(body) == ["3", "2"], body
    item = body["result"]["items"][0]
    assert item["fields"] == {"id": "3", "price": "300", "index_name": app}
    assert item["sortExprValues"] == ["300"]


def test_java_style_content_type_on_get_is_signed_and_accepted(shop):
    s, app = shop
    body = s.search(app, {"query": "query=en:'university'", "format": "fulljson"},
                    headers={"Content-Type": "application/json"})
    assert ids(body) == ["1"]


def test_aggregate_facet_and_summary(shop):
    s, app = shop
    body = s.search(app, {
        "query": "query=''&&aggregate=group_key:brand,agg_fun:count()#sum(price)",
        "summary": "summary_field:title_en,summary_len:30,summary_element:em",
    })
    assert body["result"]["facet"] == [{"key": "brand", "items": [
        {"value": "Apple", "count": 2, "sum": 150}, {"value": "Huawei", "count": 1, "sum": 300}]}]
    body = s.search(app, {"query": "query=en:'chargers'", "summary": "summary_field:title_en,summary_element:em"})
    assert "<em>chargers</em>" in body["result"]["items"][0]["title_en"], body


@pytest.mark.parametrize("query,code", [
    ("config=hit:5", 6001),
    ("query=phone", 6008),
    ("query='a'&&config=start:4999,hit:10", 6013),
    ("query=nope:'a'", 6101),
    ("query='a'&&filter=brand=Apple", 6135),
])
def test_query_errors_carry_the_documented_code(shop, query, code):
    s, app = shop
    with pytest.raises(TeaException) as e:
        s.search(app, {"query": query})
    body = json.loads(e.value.data)
    assert body["status"] == "FAIL"
    assert body["errors"][0]["code"] == code, body
    assert body["errors"][0]["message"], body


def test_scroll_pages_through_everything(shop):
    s, app = shop
    first = s.search(app, {"query": "query=''&&config=hit:2", "search_type": "scan", "scroll": "1m"})
    assert first["result"]["total"] == 3
    scroll_id = first["result"]["scroll_id"]
    seen = []
    while True:
        page = s.search(app, {"scroll": "1m", "scroll_id": scroll_id, "search_type": "scan"})
        if not page["result"]["items"]:
            break
        seen += ids(page)
        scroll_id = page["result"]["scroll_id"]
    assert sorted(seen) == ["1", "2", "3"]


DELIVERY_SCHEMA = {
    "tables": {"main": {"name": "main", "primaryTable": True, "fields": {
        "id": {"name": "id", "type": "LITERAL", "primaryKey": True},
        "name": {"name": "name", "type": "TEXT"},
        "area": {"name": "area", "type": "DOUBLE_ARRAY"},
        "pt": {"name": "pt", "type": "DOUBLE_ARRAY"},
        "open_time": {"name": "open_time", "type": "INT_ARRAY"},
        "prices": {"name": "prices", "type": "INT_ARRAY"},
        "price": {"name": "price", "type": "INT"},
    }}},
    "indexes": {
        "searchFields": {"default": {"fields": ["name"], "analyzer": "chn_standard"}},
        "filterFields": ["id", "area", "pt", "open_time", "prices", "price"],
    },
}


def period(start: int, end: int) -> int:
    """An opening period as the cloud's bit_struct example packs it: start minute high, end low."""
    return (start << 32) | end


DELIVERY_DOCS = [
    {"cmd": "add", "fields": {"id": "lake", "name": "外婆家", "price": 80,
                              "area": [120.1, 30.2, 120.2, 30.2, 120.2, 30.3, 120.1, 30.3], "pt": [120.15, 30.25],
                              "open_time": [period(480, 720), period(780, 1320)], "prices": [100, 80, 60]}},
    {"cmd": "add", "fields": {"id": "station", "name": "外婆家", "price": 50,
                              "area": [121.0, 31.0, 122.0, 31.0, 122.0, 32.0, 121.0, 32.0], "pt": [121.5, 31.5],
                              "open_time": [period(420, 600)], "prices": [90]}},
    {"cmd": "add", "fields": {"id": "none", "name": "外婆家", "price": 20}},
]


@pytest.fixture
def delivery(pier, make_app):
    app = make_app(DELIVERY_SCHEMA)
    s = Searcher(pier)
    s.push(app, "main", DELIVERY_DOCS)
    return s, app


@pytest.mark.parametrize("clauses,expected", [
    ("filter=in_polygon(area, 121.5, 31.5)>0", ["station"]),
    # The cloud's kvpairs form: commas inside the polygon escaped with a backslash.
    ("filter=in_query_polygon(\"polygons\", pt)=2"
     "&&kvpairs=polygons:0\\,0\\,1\\,0\\,1\\,1;121\\,31\\,122\\,31\\,122\\,32\\,121\\,32", ["station"]),
    ("filter=bit_struct(open_time, \"0-31,32-63\", \"overlap,$1,$2,840,930\")!=-1", ["lake"]),
    ("filter=multi_attr(prices, 1, \"1000\")<85", ["lake"]),
    ("filter=price>=50 AND price<80", ["station"]),
    ("filter=price>=20", ["lake", "none", "station"]),
])
def test_functionality_functions_and_ranges(delivery, clauses, expected):
    s, app = delivery
    body = s.search(app, {"query": f"query=default:'外婆家'&&{clauses}&&config=format:fulljson"})
    assert body["status"] == "OK", body
    assert sorted(ids(body)) == expected, body
    assert body["result"]["total"] == len(expected), body


def test_functionality_function_errors_carry_the_clause_code(delivery):
    s, app = delivery
    for query, code in [
        ("query=''&&filter=in_polygon(area, 1)>0", 6113),
        ("query=''&&sort=+multi_attr(price, 0)", 6115),
        ("query=''&&filter=bit_struct(name, \"0-63\", \"equal,$1,1\")>0", 6127),
    ]:
        with pytest.raises(TeaException) as e:
            s.search(app, {"query": query})
        body = json.loads(e.value.data)
        assert body["errors"][0]["code"] == code, (query, body)
