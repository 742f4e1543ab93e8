"""End-to-end: the official Alibaba Cloud OpenSearch Python client stack pushing to a running pier.

Which official code is used, exactly
------------------------------------
The generated OpenSearch V3 client, `python/alibabacloud_opensearch/client.py` in the GitHub repository
aliyun/alibabacloud-opensearch-sdk (generated from that repository's `main.tea`), is not published on PyPI
(`pip index versions alibabacloud-opensearch` finds nothing). Its only transport is `Client._request`, a thin
sequence of calls into three libraries that ARE on PyPI and are installed here unmodified
(versions pinned in requirements.txt):

  * alibabacloud-tea            -> Tea.request.TeaRequest, Tea.core.TeaCore (merge, do_action),
                                   Tea.exceptions.TeaException
  * alibabacloud-tea-util       -> alibabacloud_tea_util.client.Client (get_nonce, to_jsonstring,
                                   get_user_agent, read_as_string, is_4xx/is_5xx, parse_json, assert_as_map),
                                   alibabacloud_tea_util.models.RuntimeOptions
  * alibabacloud-opensearch-util-> alibabacloud_opensearch_util.opensearch_util.OpensearchUtil
                                   (get_date, get_content_md5, get_signature)

`tea_request()` below performs that same sequence of library calls, in the same order and with the same
arguments, as `Client._request` + `Client.push_document` (runtime options connect 5000 ms / read 10000 ms /
autoretry off). What it leaves out: the `alibabacloud_credentials` provider (the AK/secret are passed
directly, which is what that provider returns for type `access_key`), the retry loop (with `autoretry=False`
it makes exactly one attempt), and the `TeaCore.from_map` into the generated response models (the plain
`{'body': ..., 'headers': ...}` dict is returned). So the bytes on the wire - headers, body, signature - are
those of the official client; test_signing_reproduces_spec_vector checks that against spec §1.3/§2.2(a).

Extra, non-signed headers (`X-Pier-Wait: visible`) are passed the way the generated client accepts caller
headers (`PushDocumentRequestModel.headers`, merged before signing).
"""

from __future__ import annotations

import json
import re
import time

import pytest
from alibabacloud_opensearch_util.opensearch_util import OpensearchUtil
from alibabacloud_tea_util import models as util_models
from alibabacloud_tea_util.client import Client as UtilClient
from Tea.core import TeaCore
from Tea.exceptions import TeaException
from Tea.request import TeaRequest

WAIT_VISIBLE = {"X-Pier-Wait": "visible"}
REQUEST_ID_RE = re.compile(r"^\d{24}$")


# --------------------------------------------------------------------------------------------------
# The official client's request path
# --------------------------------------------------------------------------------------------------

def build_tea_request(endpoint: str, access_key_id: str, access_key_secret: str, method: str,
                      pathname: str, query: dict | None, headers: dict | None, body) -> TeaRequest:
    """Build and sign the TeaRequest the way `Client._request` does (one attempt)."""
    request = TeaRequest()
    request.protocol = UtilClient.default_string(None, "HTTP")
    request.method = method
    request.pathname = pathname
    request.headers = TeaCore.merge({
        "user-agent": UtilClient.get_user_agent(None),
        "Date": OpensearchUtil.get_date(),
        "host": UtilClient.default_string(endpoint, "opensearch-cn-hangzhou.aliyuncs.com"),
        "X-Opensearch-Nonce": UtilClient.get_nonce(),
    }, headers)
    if not UtilClient.is_unset(query):
        request.query = UtilClient.stringify_map_value(query)
    if not UtilClient.is_unset(body):
        req_body = UtilClient.to_jsonstring(body)
        request.headers["Content-MD5"] = OpensearchUtil.get_content_md5(req_body)
        request.headers["Content-Type"] = "application/json"
        request.body = req_body
    request.headers["Authorization"] = OpensearchUtil.get_signature(request, access_key_id, access_key_secret)
    return request


def send_tea_request(request: TeaRequest) -> dict:
    """Send and parse the response the way `Client._request` does."""
    runtime = util_models.RuntimeOptions(connect_timeout=5000, read_timeout=10000, autoretry=False,
                                         ignore_ssl=False, max_idle_conns=50)
    runtime.validate()
    runtime_dict = {
        "timeouted": "retry",
        "readTimeout": runtime.read_timeout,
        "connectTimeout": runtime.connect_timeout,
        "httpProxy": runtime.http_proxy,
        "httpsProxy": runtime.https_proxy,
        "noProxy": runtime.no_proxy,
        "maxIdleConns": runtime.max_idle_conns,
        "retry": {"retryable": runtime.autoretry,
                  "maxAttempts": UtilClient.default_number(runtime.max_attempts, 3)},
        "backoff": {"policy": UtilClient.default_string(runtime.backoff_policy, "no"),
                    "period": UtilClient.default_number(runtime.backoff_period, 1)},
        "ignoreSSL": runtime.ignore_ssl,
    }
    response = TeaCore.do_action(request, runtime_dict)
    obj_str = UtilClient.read_as_string(response.body)
    if UtilClient.is_4xx(response.status_code) or UtilClient.is_5xx(response.status_code):
        raise TeaException({"message": response.status_message, "data": obj_str, "code": response.status_code})
    obj = UtilClient.parse_json(obj_str)
    return {"body": UtilClient.assert_as_map(obj), "headers": response.headers}


class OpenSearchClient:
    """`push_document` of the generated client, on the official libraries."""

    def __init__(self, endpoint: str, access_key_id: str, access_key_secret: str):
        self.endpoint = endpoint
        self.access_key_id = access_key_id
        self.access_key_secret = access_key_secret
        self.last_request: TeaRequest | None = None

    def push_document(self, app: str, table: str, body, headers: dict | None = None) -> dict:
        request = build_tea_request(self.endpoint, self.access_key_id, self.access_key_secret, "POST",
                                    f"/v3/openapi/apps/{app}/{table}/actions/bulk", None, headers, body)
        self.last_request = request
        return send_tea_request(request)


@pytest.fixture
def client(pier) -> OpenSearchClient:
    return OpenSearchClient(pier.endpoint, pier.key_id, pier.secret)


# --------------------------------------------------------------------------------------------------
# Schemas and helpers
# --------------------------------------------------------------------------------------------------

def demo_schema(table: str = "tab") -> dict:
    """Cloud schema JSON (spec §5) covering the §1.3 body plus an INT, a DOUBLE and a LITERAL field."""
    return {
        "tables": {table: {"name": table, "primaryTable": True, "fields": {
            "id": {"name": "id", "type": "LITERAL", "primaryKey": True},
            "title": {"name": "title", "type": "TEXT", "primaryKey": False},
            "int_array": {"name": "int_array", "type": "INT_ARRAY", "primaryKey": False},
            "string_array": {"name": "string_array", "type": "LITERAL_ARRAY", "primaryKey": False},
            "buy": {"name": "buy", "type": "INT", "primaryKey": False},
            "price": {"name": "price", "type": "DOUBLE", "primaryKey": False},
            "cate": {"name": "cate", "type": "LITERAL", "primaryKey": False},
        }}},
        "indexes": {
            "searchFields": {"id": {"fields": ["id"]},
                             "default": {"fields": ["title"], "analyzer": "chn_standard"},
                             "cate": {"fields": ["cate"]}},
            "filterFields": ["id", "buy", "price", "cate", "int_array"],
        },
    }


def assert_push_ok(res: dict) -> str:
    body = res["body"]
    assert body.get("status") == "OK", body
    assert body.get("errors") == [], body
    assert body.get("result") is True, body
    rid = body.get("request_id")
    assert isinstance(rid, str) and REQUEST_ID_RE.match(rid), f"request_id must be 24 digits: {body}"
    return rid


def fail_body(exc: TeaException) -> dict:
    """The JSON error envelope carried by a TeaException raised for an HTTP 4xx/5xx."""
    assert isinstance(exc.data, str) and exc.data, f"no response body in exception: {exc}"
    body = json.loads(exc.data)
    assert body.get("status") == "FAIL", body
    assert isinstance(body.get("request_id"), str) and body["request_id"], body
    assert isinstance(body.get("errors"), list) and body["errors"], body
    for e in body["errors"]:
        assert isinstance(e.get("code"), int) and isinstance(e.get("message"), str), body
    return body


def get_doc(pier, app: str, table: str, pk: str) -> dict:
    r = pier.doc(app, table, pk)
    assert r.status_code == 200, f"GET doc {app}/{table}/{pk}: HTTP {r.status_code} {r.text}"
    doc = r.json()
    assert doc.get("pk") == pk, doc
    return doc["fields"]


def assert_no_doc(pier, app: str, table: str, pk: str) -> None:
    r = pier.doc(app, table, pk)
    assert r.status_code == 404, f"expected no document {app}/{table}/{pk}, got HTTP {r.status_code} {r.text}"


def table_documents(pier, app: str, table: str) -> int:
    r = pier.get(f"/api/v1/apps/{app}")
    assert r.status_code == 200, r.text
    tables = {t["name"]: t for t in r.json()["tables"]}
    assert table in tables, r.json()
    return tables[table]["documents"]


def wait_table_documents(pier, app: str, table: str, expected: int, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    n = None
    while time.monotonic() < deadline:
        n = table_documents(pier, app, table)
        if n == expected:
            return
        time.sleep(0.1)
    raise AssertionError(f"{app}/{table}: documents stayed {n}, expected {expected}")


def is_empty(v) -> bool:
    return v in (None, "", 0, [])


# --------------------------------------------------------------------------------------------------
# Tests
# --------------------------------------------------------------------------------------------------

SPEC_BODY_OBJ = [
    {"cmd": "add", "fields": {"id": "1", "title": "This is the title", "int_array": [14, 85],
                              "string_array": ["abc", "xyz"]}},
    {"cmd": "delete", "fields": {"id": "2"}},
]
SPEC_BODY = ('[{"cmd":"add","fields":{"id":"1","title":"This is the title","int_array":[14,85],'
             '"string_array":["abc","xyz"]}},{"cmd":"delete","fields":{"id":"2"}}]')


def test_signing_reproduces_spec_vector():
    """No server: the request path above yields exactly the wire request of spec §1.3 / §2.2(a)."""
    req = build_tea_request("127.0.0.1", "testAccessKeyId", "testAccessKeySecret", "POST",
                            "/v3/openapi/apps/app_schema_demo/tab/actions/bulk", None,
                            {"Date": "2019-02-25T10:09:57Z", "X-Opensearch-Nonce": "1551089397451704"},
                            SPEC_BODY_OBJ)
    assert req.body == SPEC_BODY
    assert len(req.body.encode()) == 149
    assert req.headers["Content-MD5"] == "32680bcf532ec9adf93fc63687c29387"
    assert req.headers["Content-Type"] == "application/json"
    assert req.headers["Authorization"] == "OPENSEARCH testAccessKeyId:2np8G2SjZeCL5dWZ0FlTq89Jalk="


def test_spec_body_add_and_delete(pier, client):
    """The exact §1.3 body, to the §1.3 path (app_schema_demo/tab), through the official client."""
    app, table = "app_schema_demo", "tab"
    pier.delete(f"/api/v1/apps/{app}")  # leftovers of an interrupted run in a kept data dir
    info = pier.create_app(app, demo_schema(table), "advanced")
    assert info.get("name", app) == app, info
    try:
        # doc 2 exists first, so the spec body's delete has something to remove
        assert_push_ok(client.push_document(app, table, [{"cmd": "add", "fields": {"id": "2", "title": "two"}}],
                                            WAIT_VISIBLE))
        assert get_doc(pier, app, table, "2")["title"] == "two"

        res = client.push_document(app, table, SPEC_BODY_OBJ, WAIT_VISIBLE)
        assert client.last_request.body == SPEC_BODY.encode()  # the bytes that went on the wire
        rid = assert_push_ok(res)

        fields = get_doc(pier, app, table, "1")
        assert fields["id"] == "1"
        assert fields["title"] == "This is the title"
        assert fields["int_array"] == [14, 85]
        assert fields["string_array"] == ["abc", "xyz"]
        assert_no_doc(pier, app, table, "2")
        wait_table_documents(pier, app, table, 1)

        st = pier.wait_request_processed(rid)
        assert st["documents"] == 2, st
        assert st["failed"] == [], st
    finally:
        pier.delete(f"/api/v1/apps/{app}")


def test_add_update_delete(pier, client, make_app):
    app = make_app(demo_schema())
    t = "tab"
    assert_push_ok(client.push_document(app, t, [
        {"cmd": "add", "fields": {"id": "a1", "title": "first title", "buy": 3, "price": 9.5, "cate": "books"}},
        {"cmd": "add", "fields": {"id": "a2", "title": "second", "buy": "7", "cate": "toys"}},
    ], WAIT_VISIBLE))
    f = get_doc(pier, app, t, "a1")
    assert (f["title"], f["buy"], f["price"], f["cate"]) == ("first title", 3, 9.5, "books")
    assert get_doc(pier, app, t, "a2")["buy"] == 7  # numeric string accepted for INT

    # update: partial, other fields keep their values
    assert_push_ok(client.push_document(app, t, [{"cmd": "update", "fields": {"id": "a1", "buy": 42}}],
                                        WAIT_VISIBLE))
    f = get_doc(pier, app, t, "a1")
    assert f["buy"] == 42
    assert (f["title"], f["price"], f["cate"]) == ("first title", 9.5, "books")

    # add over an existing pk: full replace, fields not given are emptied
    assert_push_ok(client.push_document(app, t, [{"cmd": "add", "fields": {"id": "a1", "title": "replaced"}}],
                                        WAIT_VISIBLE))
    f = get_doc(pier, app, t, "a1")
    assert f["title"] == "replaced"
    for gone in ("buy", "price", "cate"):
        assert is_empty(f.get(gone)), f"add must replace the whole document, {gone} survived: {f}"

    # delete; deleting a missing pk is a success too
    assert_push_ok(client.push_document(app, t, [{"cmd": "delete", "fields": {"id": "a1"}},
                                                 {"cmd": "delete", "fields": {"id": "never_there"}}],
                                        WAIT_VISIBLE))
    assert_no_doc(pier, app, t, "a1")
    assert get_doc(pier, app, t, "a2")["title"] == "second"
    wait_table_documents(pier, app, t, 1)


def test_uppercase_cmds_as_java_and_php_sdks_send(pier, client, make_app):
    app = make_app(demo_schema())
    assert_push_ok(client.push_document(app, "tab", [
        {"cmd": "ADD", "fields": {"id": "u1", "title": "upper", "buy": 1}},
        {"cmd": "UPDATE", "fields": {"id": "u1", "buy": 2}},
        {"cmd": "ADD", "fields": {"id": "u2", "title": "to delete"}},
        {"cmd": "DELETE", "fields": {"id": "u2"}},
    ], WAIT_VISIBLE))
    f = get_doc(pier, app, "tab", "u1")
    assert (f["title"], f["buy"]) == ("upper", 2)
    assert_no_doc(pier, app, "tab", "u2")


def test_unicode_document_round_trips(pier, client, make_app):
    app = make_app(demo_schema())
    title = "阿里云开放搜索：中文标题测试，含标点“引号”与 emoji 🚀"
    cate = "数码/手机"
    tags = ["苹果", "华为", "小米"]
    pk = "文档一"
    res = client.push_document(app, "tab", [
        {"cmd": "add", "fields": {"id": pk, "title": title, "cate": cate, "string_array": tags}},
    ], WAIT_VISIBLE)
    assert_push_ok(res)
    # the Tea client sends raw UTF-8, not \\u escapes (spec §1.1)
    sent = client.last_request.body  # bytes, as TeaCore.do_action sent them
    assert title.encode() in sent and b"\\u" not in sent, sent
    f = get_doc(pier, app, "tab", pk)
    assert f["title"] == title
    assert f["cate"] == cate
    assert f["string_array"] == tags


def test_wrong_secret_is_403_4003(pier, make_app):
    app = make_app(demo_schema())
    bad = OpenSearchClient(pier.endpoint, pier.key_id, pier.secret + "x")
    with pytest.raises(TeaException) as ei:
        bad.push_document(app, "tab", [{"cmd": "add", "fields": {"id": "x1", "title": "nope"}}])
    assert ei.value.code == 403, str(ei.value)
    body = fail_body(ei.value)
    assert body["errors"][0]["code"] == 4003, body
    assert_no_doc(pier, app, "tab", "x1")


def test_unknown_access_key_is_403(pier, make_app):
    app = make_app(demo_schema())
    bad = OpenSearchClient(pier.endpoint, "LTAInosuchkey00000000", pier.secret)
    with pytest.raises(TeaException) as ei:
        bad.push_document(app, "tab", [{"cmd": "add", "fields": {"id": "x2"}}])
    assert ei.value.code == 403, str(ei.value)
    body = fail_body(ei.value)
    assert body["errors"][0]["code"] in (4001, 5001), body


def test_stale_date_is_403(pier, client, make_app):
    """A correctly signed request whose Date is far in the past (spec §2.1: > 15 min skew -> HTTP 403)."""
    app = make_app(demo_schema())
    with pytest.raises(TeaException) as ei:
        client.push_document(app, "tab", [{"cmd": "add", "fields": {"id": "old"}}],
                             {"Date": "2019-02-25T10:09:57Z"})
    assert client.last_request.headers["Date"] == "2019-02-25T10:09:57Z"
    assert ei.value.code == 403, str(ei.value)
    fail_body(ei.value)
    assert_no_doc(pier, app, "tab", "old")


def test_unknown_app_is_404_2001(pier, client):
    with pytest.raises(TeaException) as ei:
        client.push_document("no_such_app_xyz", "tab", [{"cmd": "add", "fields": {"id": "1"}}])
    assert ei.value.code == 404, str(ei.value)
    assert fail_body(ei.value)["errors"][0]["code"] == 2001


def test_unknown_table_is_404_4012(pier, client, make_app):
    app = make_app(demo_schema())
    with pytest.raises(TeaException) as ei:
        client.push_document(app, "no_such_table", [{"cmd": "add", "fields": {"id": "1"}}])
    assert ei.value.code == 404, str(ei.value)
    assert fail_body(ei.value)["errors"][0]["code"] == 4012


def test_malformed_json_is_400_4007(pier, client, make_app):
    app = make_app(demo_schema())
    # UtilClient.to_jsonstring passes a str body through unchanged: the client sends these bytes as-is
    with pytest.raises(TeaException) as ei:
        client.push_document(app, "tab", '[{"cmd":"add","fields":{"id":"1"')
    assert ei.value.code == 400, str(ei.value)
    assert fail_body(ei.value)["errors"][0]["code"] == 4007


def test_bad_cmd_is_400_3006(pier, client, make_app):
    app = make_app(demo_schema())
    with pytest.raises(TeaException) as ei:
        client.push_document(app, "tab", [{"cmd": "add", "fields": {"id": "ok1"}},
                                          {"cmd": "replace", "fields": {"id": "bad1"}}])
    assert ei.value.code == 400, str(ei.value)
    assert fail_body(ei.value)["errors"][0]["code"] == 3006
    # the batch is rejected as a whole: not even the valid element is applied
    time.sleep(0.5)
    assert_no_doc(pier, app, "tab", "ok1")


def test_timestamp_ordering_on_advanced_app(pier, client, make_app):
    app = make_app(demo_schema())
    now = int(time.time() * 1000)
    # newer first, then an older operation on the same pk: the newer value must stay
    r_new = client.push_document(app, "tab", [
        {"cmd": "add", "timestamp": now + 10_000, "fields": {"id": "ts1", "title": "newer", "buy": 2}}],
        WAIT_VISIBLE)
    assert_push_ok(r_new)
    r_old = client.push_document(app, "tab", [
        {"cmd": "add", "timestamp": now, "fields": {"id": "ts1", "title": "older", "buy": 1}}],
        WAIT_VISIBLE)
    rid_old = assert_push_ok(r_old)
    pier.wait_request_processed(rid_old)
    f = get_doc(pier, app, "tab", "ts1")
    assert (f["title"], f["buy"]) == ("newer", 2), f"an older timestamp overwrote a newer one: {f}"

    # an older delete must not remove the newer document either
    rid_del = assert_push_ok(client.push_document(app, "tab", [
        {"cmd": "delete", "timestamp": now + 5_000, "fields": {"id": "ts1"}}], WAIT_VISIBLE))
    pier.wait_request_processed(rid_del)
    assert get_doc(pier, app, "tab", "ts1")["title"] == "newer"

    # control: in the right order the later timestamp wins
    assert_push_ok(client.push_document(app, "tab", [
        {"cmd": "add", "timestamp": now, "fields": {"id": "ts2", "title": "older"}}], WAIT_VISIBLE))
    assert_push_ok(client.push_document(app, "tab", [
        {"cmd": "add", "timestamp": now + 10_000, "fields": {"id": "ts2", "title": "newer"}}], WAIT_VISIBLE))
    assert get_doc(pier, app, "tab", "ts2")["title"] == "newer"


def test_processing_error_is_reported(pier, client, make_app):
    """An INT field given "abc": the push is accepted (async processing), the document fails with 7302."""
    app = make_app(demo_schema())
    res = client.push_document(app, "tab", [
        {"cmd": "add", "fields": {"id": "good1", "title": "fine", "buy": 5}},
        {"cmd": "add", "fields": {"id": "bad1", "title": "broken", "buy": "abc"}},
    ], WAIT_VISIBLE)
    rid = assert_push_ok(res)

    st = pier.wait_request_processed(rid)
    assert st["documents"] == 2, st
    assert len(st["failed"]) == 1, st
    failed = st["failed"][0]
    assert failed["pk"] == "bad1", st
    assert failed["code"] == 7302, st
    assert isinstance(failed["message"], str) and failed["message"], st

    assert get_doc(pier, app, "tab", "good1")["buy"] == 5
    assert_no_doc(pier, app, "tab", "bad1")

    # a second failing request: the errors log is newest first
    rid2 = assert_push_ok(client.push_document(app, "tab", [
        {"cmd": "add", "fields": {"id": "bad2", "buy": "xyz"}}], WAIT_VISIBLE))
    pier.wait_request_processed(rid2)

    r = pier.get(f"/api/v1/apps/{app}/errors")
    assert r.status_code == 200, r.text
    log = r.json()
    assert log["total"] == 2, log
    assert [e["request_id"] for e in log["errors"]] == [rid2, rid], log
    newest, older = log["errors"]
    assert (newest["pk"], newest["code"], newest["table"]) == ("bad2", 7302, "tab"), log
    assert (older["pk"], older["code"], older["table"]) == ("bad1", 7302, "tab"), log
    assert newest["time_ms"] >= older["time_ms"], log
    assert isinstance(older["message"], str) and older["message"], log


@pytest.mark.parametrize("app_type,body,code", [
    ("advanced", [], 3001),                                                  # empty push
    ("advanced", {"cmd": "add", "fields": {"id": "1"}}, 4007),               # not an array
    ("advanced", [{"fields": {"id": "1"}}], 3005),                           # no cmd
    ("advanced", [{"cmd": "add", "fields": {"title": "no pk"}}], 3009),      # no primary key
    ("standard", [{"cmd": "update", "fields": {"id": "1", "buy": 1}}], 3006),  # standard: no update
    ("standard", [{"cmd": "add", "timestamp": 1, "fields": {"id": "1"}}], 4007),  # standard: no timestamp
], ids=["empty", "not-array", "no-cmd", "no-pk", "standard-update", "standard-timestamp"])
def test_rejected_batches_are_400(pier, client, make_app, app_type, body, code):
    app = make_app(demo_schema(), app_type)
    with pytest.raises(TeaException) as ei:
        client.push_document(app, "tab", body)
    assert ei.value.code == 400, str(ei.value)
    assert fail_body(ei.value)["errors"][0]["code"] == code


def test_standard_app_accepts_add_and_delete(pier, client, make_app):
    app = make_app(demo_schema(), "standard")
    assert_push_ok(client.push_document(app, "tab", [
        {"cmd": "add", "fields": {"id": "s1", "title": "standard", "buy": 1}},
        {"cmd": "add", "fields": {"id": "s2", "title": "gone soon"}},
        {"cmd": "delete", "fields": {"id": "s2"}},
    ], WAIT_VISIBLE))
    assert get_doc(pier, app, "tab", "s1")["title"] == "standard"
    assert_no_doc(pier, app, "tab", "s2")
