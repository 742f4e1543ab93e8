//! The V3 search API over real HTTP on loopback: a golden suite of query strings (every clause,
//! every error code) against a fixed data set, response shapes, summaries and scroll.

use pier_engine::{Engine, EngineConfig};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

const SCHEMA: &str = r#"{"tables": {"main": {"primaryTable": true, "fields": {
    "id": {"type": "LITERAL", "primaryKey": true},
    "title": {"type": "TEXT"}, "body": {"type": "TEXT"}, "title_en": {"type": "TEXT"},
    "cat": {"type": "INT"}, "price": {"type": "INT"}, "rating": {"type": "DOUBLE"},
    "brand": {"type": "LITERAL"}, "tags": {"type": "LITERAL_ARRAY"}, "loc": {"type": "GEO_POINT"}}},
    "extra": {"fields": {"eid": {"type": "LITERAL", "primaryKey": true}, "main_id": {"type": "LITERAL", "joinWith": "main.id"}, "note": {"type": "TEXT"}}}},
    "indexes": {"searchFields": {
        "default": {"fields": ["title", "body"], "analyzer": "chn_standard"},
        "en": {"fields": ["title_en"], "analyzer": "en_standard"},
        "single": {"fields": ["title"], "analyzer": "chn_single"},
        "brand_kw": {"fields": ["brand"]},
        "price_idx": {"fields": ["price"]}},
      "filterFields": ["cat", "price", "rating", "brand", "tags", "loc"]}}"#;

const DOCS: &str = r#"[
 {"cmd": "add", "fields": {"id": "1", "title": "北京大学百年校庆", "body": "北京大学是中国著名学府", "title_en": "Peking University celebrates", "cat": 1, "price": 100, "rating": 4.5, "brand": "Apple", "tags": ["a", "b"], "loc": "116.3105 39.9929"}},
 {"cmd": "add", "fields": {"id": "2", "title": "清华大学计算机系", "body": "清华园位于海淀", "title_en": "Tsinghua computer science", "cat": 1, "price": 200, "rating": 4.0, "brand": "Huawei", "tags": ["b"], "loc": "116.3264 40.0034"}},
 {"cmd": "add", "fields": {"id": "3", "title": "苹果手机充电器", "body": "快速充电", "title_en": "Apple phone chargers charging fast", "cat": 2, "price": 50, "rating": 3.5, "brand": "Apple", "tags": ["c"], "loc": "121.4737 31.2304"}},
 {"cmd": "add", "fields": {"id": "4", "title": "华为手机", "body": "鸿蒙系统", "title_en": "Huawei phones running", "cat": 2, "price": 300, "rating": 5.0, "brand": "Huawei", "tags": ["a", "c"], "loc": "114.0579 22.5431"}},
 {"cmd": "add", "fields": {"id": "5", "title": "搜索引擎原理", "body": "倒排索引与排序", "title_en": "search engines and inverted indexes", "cat": 3, "price": 80, "rating": 4.2, "brand": "Baidu", "tags": [], "loc": "120.1551 30.2741"}},
 {"cmd": "add", "fields": {"id": "6", "title": "英语教材", "body": "英语学习", "title_en": "university english textbook", "cat": 3, "price": 30, "rating": 2.0, "brand": "Apple", "tags": ["a"]}}
]"#;

struct Server {
    base: String,
    key: (String, String),
    http: reqwest::Client,
    _dir: tempfile::TempDir,
}

async fn start() -> Server {
    let dir = tempfile::tempdir().unwrap();
    let mut config = EngineConfig::new(dir.path());
    config.commit_interval = Duration::from_millis(20);
    let engine = Arc::new(Engine::open(config).unwrap());
    let key = engine.keys().create(None).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(pier_server::serve(listener, engine, std::future::pending()));
    let s = Server {
        base,
        key: (key.id, key.secret),
        http: reqwest::Client::new(),
        _dir: dir,
    };
    let schema: Value = serde_json::from_str(SCHEMA).unwrap();
    let resp = s
        .http
        .post(format!("{}/api/v1/apps", s.base))
        .basic_auth(&s.key.0, Some(&s.key.1))
        .json(&json!({"name": "shop", "type": "advanced", "schema": schema}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
    s.push("shop", "main", DOCS).await;
    s
}

impl Server {
    async fn push(&self, app: &str, table: &str, body: &str) {
        let path = format!("/v3/openapi/apps/{app}/{table}/actions/bulk");
        let headers = pier_auth::sign_request(
            &self.key.0,
            &self.key.1,
            "POST",
            &path,
            &[],
            body.as_bytes(),
            time::OffsetDateTime::now_utc(),
        );
        let mut req = self
            .http
            .post(format!("{}{path}", self.base))
            .body(body.to_string())
            .header("X-Pier-Wait", "visible");
        for (k, v) in headers {
            req = req.header(k, v);
        }
        let resp = req.send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(resp.headers()["x-pier-visible"], "true");
    }

    /// A signed GET search with these (unencoded) query parameters.
    async fn get(&self, app: &str, params: &[(&str, &str)]) -> (StatusCode, String) {
        let path = format!("/v3/openapi/apps/{app}/search");
        let pairs: Vec<(String, String)> = params
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let headers = pier_auth::sign_request(
            &self.key.0,
            &self.key.1,
            "GET",
            &path,
            &pairs,
            b"",
            time::OffsetDateTime::now_utc(),
        );
        let mut req = self.http.get(format!("{}{path}", self.base)).query(params);
        for (k, v) in headers {
            req = req.header(k, v);
        }
        let resp = req.send().await.unwrap();
        (resp.status(), resp.text().await.unwrap())
    }

    async fn search(&self, query: &str) -> Value {
        self.search_with(&[("query", query)]).await
    }

    async fn search_with(&self, params: &[(&str, &str)]) -> Value {
        let (status, body) = self.get("shop", params).await;
        assert_eq!(status, StatusCode::OK, "{params:?}: {body}");
        let v: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["status"], "OK", "{v}");
        v
    }

    async fn error(&self, query: &str) -> (StatusCode, u64, String) {
        let (status, body) = self.get("shop", &[("query", query)]).await;
        let v: Value = serde_json::from_str(&body).unwrap_or_else(|_| panic!("{body}"));
        assert_eq!(v["status"], "FAIL", "{query}: {v}");
        (
            status,
            v["errors"][0]["code"].as_u64().unwrap(),
            v["errors"][0]["message"].as_str().unwrap().to_string(),
        )
    }
}

/// The ids of the result items, in order.
fn ids(v: &Value) -> Vec<String> {
    v["result"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| {
            let fields = item.get("fields").unwrap_or(item);
            fields["id"].as_str().unwrap().to_string()
        })
        .collect()
}

#[tokio::test]
async fn golden_queries() {
    let s = start().await;
    // (query string, expected ids in order; a leading "*" means "as a set")
    let cases: &[(&str, &[&str])] = &[
        // Terms, analysers, boosts.
        ("query=default:'北京大学'", &["1"]),
        ("query='北京大学'", &["1"]),
        ("query=en:'charging'", &["3"]),
        ("query=en:'charger'", &["3"]),
        ("query=en:'phone'&&sort=+price", &["3", "4"]),
        ("query=brand_kw:'Apple'&&sort=+price", &["6", "3", "1"]),
        ("query=brand_kw:'appl'", &[]),
        ("query=single:'机'&&sort=+price", &["3", "2", "4"]),
        // Multi-word terms are ANDed; phrases keep order.
        ("query=en:'computer science'", &["2"]),
        ("query=en:'science computer'", &["2"]),
        ("query=en:\"search engines\"", &["5"]),
        ("query=en:\"engines search\"", &[]),
        // Operators and precedence.
        (
            "query=en:'university' OR en:'phone'&&sort=+price",
            &["6", "3", "1", "4"],
        ),
        ("query=en:'university' ANDNOT en:'english'", &["1"]),
        ("query=en:'university' AND en:'english'", &["6"]),
        ("query=en:'university' RANK en:'english'", &["6", "1"]),
        (
            "query=(en:'university' OR en:'phone') AND brand_kw:'Apple'&&sort=+price",
            &["6", "3", "1"],
        ),
        (
            "query=en:'phone'^10 OR en:'university'^99&&sort=-RANK",
            &["*", "1", "6", "3", "4"],
        ),
        // Ranges over a numeric index.
        ("query=price_idx:[50,100]&&sort=+price", &["3", "5", "1"]),
        ("query=price_idx:(50,100]&&sort=+price", &["5", "1"]),
        ("query=price_idx:[200,]&&sort=+price", &["2", "4"]),
        // Filter.
        ("query=''&&filter=price>=100&&sort=+price", &["1", "2", "4"]),
        (
            "query=''&&filter=in(cat,\"1|3\")&&sort=+price",
            &["6", "5", "1", "2"],
        ),
        (
            "query=''&&filter=notin(cat,\"1|3\")&&sort=+price",
            &["3", "4"],
        ),
        (
            "query=''&&filter=brand=\"Apple\"&&sort=+price",
            &["6", "3", "1"],
        ),
        (
            "query=''&&filter=brand!=\"Apple\"&&sort=+price",
            &["5", "2", "4"],
        ),
        ("query=''&&filter=tags=\"a\"&&sort=+price", &["6", "1", "4"]),
        (
            "query=''&&filter=price*2>300 AND (cat=1 OR cat=2)&&sort=+price",
            &["2", "4"],
        ),
        (
            "query=''&&filter=rating>4.1 AND rating<5&&sort=+price",
            &["5", "1"],
        ),
        ("query=''&&filter=(price+20)/10=10&&sort=+price", &["5"]),
        ("query=''&&filter=(price+20)/10=11&&sort=+price", &[]),
        ("query=''&&filter=(price+30)/10=13&&sort=+price", &["1"]),
        // Sort.
        ("query=''&&sort=-price", &["4", "2", "1", "5", "3", "6"]),
        (
            "query=''&&sort=+cat;-price",
            &["2", "1", "4", "3", "5", "6"],
        ),
        (
            "query=''&&sort=-(price*cat)",
            &["4", "5", "2", "1", "3", "6"],
        ),
        // Paging.
        ("query=''&&sort=-price&&config=start:1,hit:2", &["2", "1"]),
        ("query=''&&sort=-price&&config=start:5,hit:10", &["6"]),
        // Distinct.
        (
            "query=''&&sort=-price&&distinct=dist_key:brand,dist_count:1,dist_times:1,reserved:false",
            &["4", "1", "5"],
        ),
        (
            "query=''&&sort=-price&&distinct=dist_key:brand,dist_count:1,dist_times:1,reserved:true",
            &["4", "1", "5", "2", "3", "6"],
        ),
        (
            "query=''&&sort=-price&&distinct=dist_key:brand,dist_count:1,dist_times:2,reserved:false",
            &["4", "1", "5", "2", "3"],
        ),
        (
            "query=''&&sort=-price&&distinct=dist_key:brand,dist_count:1,reserved:false,dist_filter:cat<3",
            &["4", "1", "5", "6"],
        ),
        // Functions: fieldlen counts bytes of a LITERAL and values of an array.
        (
            "query=''&&filter=fieldlen(tags)>=2&&sort=+price",
            &["1", "4"],
        ),
        (
            "query=''&&filter=fieldlen(brand)=5&&sort=+price",
            &["6", "3", "5", "1"],
        ),
        (
            "query=''&&sort=-fieldlen(tags);+price",
            &["1", "4", "6", "3", "2", "5"],
        ),
        // distance in km from a GEO_POINT field: Peking and Tsinghua universities are about
        // 1.8 km apart; Hangzhou is about 165 km from Shanghai; document 6 has no location.
        (
            "query=''&&filter=distance(loc,\"116.3105\",\"39.9929\")<5&&sort=-distance(loc,\"116.3105\",\"39.9929\")",
            &["2", "1"],
        ),
        (
            "query=''&&filter=distance(loc,\"121.4737\",\"31.2304\")<200&&sort=+price",
            &["3", "5"],
        ),
        (
            "query=''&&filter=distance(\"121.4737\",\"31.2304\",loc)>=200&&sort=+distance(loc,\"121.4737\",\"31.2304\")",
            &["1", "2", "4"],
        ),
        // A point given in kvpairs.
        (
            "query=''&&filter=distance(loc,ulon,ulat)<5&&sort=+price&&kvpairs=ulon:116.3105,ulat:39.9929",
            &["1", "2"],
        ),
        // Secondary-table filter fields are not joined: a clear refusal is tested below.
    ];
    for (query, expected) in cases {
        let v = s.search(query).await;
        let mut got = ids(&v);
        let mut want: Vec<String> = expected.iter().map(|s| s.to_string()).collect();
        if want.first().is_some_and(|w| w == "*") {
            want.remove(0);
            got.sort();
            want.sort();
        }
        assert_eq!(got, want, "{query}: {v}");
    }
}

#[tokio::test]
async fn relevance_puts_the_obvious_hit_first() {
    let s = start().await;
    // Chinese: the document about Peking University beats the one that only says 大学.
    let v = s.search("query=default:'北京 大学'").await;
    assert_eq!(ids(&v).first().map(String::as_str), Some("1"), "{v}");
    // Boosts: the boosted side wins.
    let v = s.search("query=en:'phone'^99 OR en:'university'^1").await;
    assert!(matches!(ids(&v)[0].as_str(), "3" | "4"), "{v}");
    let v = s.search("query=en:'phone'^1 OR en:'university'^99").await;
    assert!(matches!(ids(&v)[0].as_str(), "1" | "6"), "{v}");
    // English stemming: "celebrating" finds "celebrates".
    let v = s.search("query=en:'celebrating'").await;
    assert_eq!(ids(&v), ["1"]);
}

#[tokio::test]
async fn response_shapes() {
    let s = start().await;
    // json: flat items, values as strings, arrays tab-joined, index_name.
    let v = s
        .search_with(&[
            ("query", "query=''&&sort=-price&&config=hit:1"),
            ("fetch_fields", "id;price;tags;rating"),
        ])
        .await;
    assert_eq!(v["result"]["total"], 6);
    assert_eq!(v["result"]["num"], 1);
    assert_eq!(v["result"]["viewtotal"], 6);
    assert!(v["result"]["searchtime"].as_f64().unwrap() >= 0.0);
    assert_eq!(
        v["result"]["items"][0],
        json!({"id": "4", "price": "300", "tags": "a\tc", "rating": "5.0", "index_name": "shop"})
    );
    assert_eq!(v["errors"], json!([]));
    assert_eq!(v["tracer"], "");
    let rid = v["request_id"].as_str().unwrap();
    assert_eq!(
        v["ops_request_misc"],
        format!("%7B%22request%5Fid%22%3A%22{rid}%22%7D")
    );
    // fulljson: wrapped items with sortExprValues.
    let v = s
        .search("config=format:fulljson,hit:2&&query=''&&sort=-price;+RANK")
        .await;
    let item = &v["result"]["items"][0];
    assert_eq!(item["fields"]["id"], "4");
    assert_eq!(item["property"], json!({}));
    assert_eq!(item["attribute"], json!({}));
    assert_eq!(item["variableValue"], json!({}));
    assert_eq!(item["sortExprValues"][0], "300");
    // The format URL parameter (Java SDK) works when the config clause does not say.
    let v = s
        .search_with(&[("query", "query=''&&config=hit:1"), ("format", "fulljson")])
        .await;
    assert!(v["result"]["items"][0]["fields"].is_object(), "{v}");
    // xml: well-formed, with the same content.
    let (status, body) = s
        .get(
            "shop",
            &[("query", "config=format:xml&&query=en:'phone'&&sort=+price")],
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.starts_with("<?xml"), "{body}");
    assert!(body.contains("<total>2</total>"), "{body}");
    assert!(body.contains("<id>3</id>"), "{body}");
    assert!(body.ends_with("</root>"), "{body}");
    // Aggregates in facet.
    let v = s
        .search(
            "query=''&&aggregate=group_key:brand,agg_fun:count()#sum(price)#max(price)#min(rating)",
        )
        .await;
    let facet = &v["result"]["facet"][0];
    assert_eq!(facet["key"], "brand");
    assert_eq!(
        facet["items"],
        json!([
            {"value": "Apple", "count": 3, "sum": 180, "max": 100, "min": 2},
            {"value": "Huawei", "count": 2, "sum": 500, "max": 300, "min": 4},
            {"value": "Baidu", "count": 1, "sum": 80, "max": 80, "min": 4.2},
        ])
    );
    let v = s
        .search("query=''&&aggregate=group_key:price,agg_fun:count(),range:50~150;group_key:tags,agg_fun:count()&&filter=cat<3")
        .await;
    assert_eq!(
        v["result"]["facet"],
        json!([
            {"key": "price", "items": [{"value": "150~", "count": 2}, {"value": "50~150", "count": 2}]},
            {"key": "tags", "items": [{"value": "a", "count": 2}, {"value": "b", "count": 2}, {"value": "c", "count": 2}]},
        ])
    );
    // count() alone over a term's matches, and over a page of no hits (counted in blocks).
    let v = s
        .search("query=brand_kw:'Apple'&&aggregate=group_key:cat,agg_fun:count();group_key:price,agg_fun:count(),range:50~150")
        .await;
    assert_eq!(
        v["result"]["facet"],
        json!([
            {"key": "cat", "items": [{"value": "1", "count": 1}, {"value": "2", "count": 1}, {"value": "3", "count": 1}]},
            {"key": "price", "items": [{"value": "50~150", "count": 2}, {"value": "~50", "count": 1}]},
        ])
    );
    assert_eq!(v["result"]["num"], 3);
    let v = s
        .search("config=hit:0&&query=''&&aggregate=group_key:brand,agg_fun:count()")
        .await;
    assert_eq!(
        (&v["result"]["total"], &v["result"]["num"]),
        (&json!(6), &json!(0))
    );
    assert_eq!(
        v["result"]["facet"][0]["items"],
        json!([
            {"value": "Apple", "count": 3},
            {"value": "Huawei", "count": 2},
            {"value": "Baidu", "count": 1},
        ])
    );
    let v = s
        .search("query=''&&aggregate=group_key:cat,agg_fun:distinct_count(brand),agg_filter:price>40,max_group:1")
        .await;
    assert_eq!(
        v["result"]["facet"][0]["items"],
        json!([{"value": "1", "count": 2, "distinct_count": 2}])
    );
    // The distance a document is sorted by is its sort expression value, in km.
    let v = s
        .search("config=format:fulljson&&query=''&&filter=distance(loc,\"116.3105\",\"39.9929\")<5&&sort=-distance(loc,\"116.3105\",\"39.9929\")")
        .await;
    let km: f64 = v["result"]["items"][0]["sortExprValues"][0]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1.6..2.0).contains(&km), "{v}");
    assert_eq!(v["result"]["items"][1]["sortExprValues"][0], "0");
    // Distinct grades: bands of relevance de-duplicated on their own. Documents 1 and 6 match
    // both terms and score above document 3; all three are Apple's.
    let query = "query=en:'university' OR brand_kw:'Apple'&&sort=-RANK";
    let v = s.search(&format!("config=format:fulljson&&{query}")).await;
    let scores: Vec<f64> = v["result"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["sortExprValues"][0].as_str().unwrap().parse().unwrap())
        .collect();
    assert_eq!(ids(&v)[2], "3", "{v}");
    assert!(scores[1] > scores[2], "{v}");
    let distinct = "distinct=dist_key:brand,reserved:false,update_total_hit:true";
    let v = s.search(&format!("{query}&&{distinct}")).await;
    assert_eq!(ids(&v).len(), 1, "{v}");
    let grade = (scores[1] + scores[2]) / 2.0;
    let v = s
        .search(&format!("{query}&&{distinct},grade:{grade}"))
        .await;
    let got = ids(&v);
    assert_eq!(got.len(), 2, "{v}");
    assert_eq!(got[1], "3", "{v}");
    assert_eq!(v["result"]["total"], 2, "{v}");
    // Distinct with update_total_hit lowers total.
    let v = s
        .search(
            "query=''&&distinct=dist_key:brand,dist_count:1,reserved:false,update_total_hit:true",
        )
        .await;
    assert_eq!(v["result"]["total"], 3);
    assert_eq!(v["result"]["viewtotal"], 3);
    // Without update_total_hit, total keeps the discarded documents but viewtotal, what paging
    // can reach, does not.
    let v = s
        .search("query=''&&distinct=dist_key:brand,dist_count:1,reserved:false")
        .await;
    assert_eq!(
        (&v["result"]["total"], &v["result"]["viewtotal"]),
        (&json!(6), &json!(3))
    );
}

#[tokio::test]
async fn summaries_highlight_the_matched_terms() {
    let s = start().await;
    let v = s
        .search_with(&[
            ("query", "query=en:'phone'&&sort=+price"),
            (
                "summary",
                "summary_field:title_en,summary_len:20,summary_element:b,summary_ellipsis:…",
            ),
        ])
        .await;
    let first = v["result"]["items"][0]["title_en"].as_str().unwrap();
    assert!(first.contains("<b>phone</b>"), "{first}");
    assert!(first.ends_with('…'), "{first}");
    let v = s
        .search_with(&[
            ("query", "query=default:'北京大学'"),
            (
                "summary",
                "summary_field:body,summary_element_prefix:[,summary_element_postfix:]",
            ),
        ])
        .await;
    let body = v["result"]["items"][0]["body"].as_str().unwrap();
    assert!(body.contains("[北京大学]"), "{body}");
}

#[tokio::test]
async fn scroll_returns_every_document_once() {
    let s = start().await;
    let first = s
        .search_with(&[
            ("query", "query=''&&config=hit:2&&filter=cat<3"),
            ("search_type", "scan"),
            ("scroll", "1m"),
        ])
        .await;
    assert_eq!(first["result"]["total"], 4);
    assert_eq!(first["result"]["num"], 0);
    let mut id = first["result"]["scroll_id"].as_str().unwrap().to_string();
    let mut seen = Vec::new();
    loop {
        let page = s
            .search_with(&[
                ("scroll", "1m"),
                ("scroll_id", &id),
                ("search_type", "scan"),
            ])
            .await;
        let page_ids = ids(&page);
        if page_ids.is_empty() {
            break;
        }
        assert!(page_ids.len() <= 2);
        seen.extend(page_ids);
        id = page["result"]["scroll_id"].as_str().unwrap().to_string();
    }
    seen.sort();
    assert_eq!(seen, ["1", "2", "3", "4"]);
    // The used id is gone; an unknown one gets a clear error.
    let (status, body) = s
        .get("shop", &[("scroll", "1m"), ("scroll_id", "nope")])
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("search_type=scan"), "{body}");
    // No aggregate in scroll mode.
    let (status, body) = s
        .get(
            "shop",
            &[
                ("query", "query=''&&aggregate=group_key:cat,agg_fun:count()"),
                ("search_type", "scan"),
                ("scroll", "1m"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
}

#[tokio::test]
async fn every_error_code_with_a_message_that_says_what_to_fix() {
    let s = start().await;
    let cases: &[(&str, u64, &str)] = &[
        ("", 6001, "query=default:'word'"),
        ("config=hit:5", 6001, "query clause is required"),
        ("query=mp3", 6008, "'mp3'"),
        ("query='a'&&config=hit:600", 6016, "hit"),
        ("query='a'&&config=start:4990,hit:20", 6013, "scroll"),
        ("query=nope:'a'", 6101, "nope"),
        ("query='a'&&filter=price>", 6113, "filter"),
        ("query='a'&&sort=-price;", 6115, "sort"),
        ("query='a'&&group=x", 6117, "group"),
        ("query='a'&&distinct=dist_count:1", 6119, "dist_key"),
        (
            "query='a'&&distinct=dist_key:tags",
            6119,
            "'tags' is LiteralArray: distinct needs an INT or LITERAL attribute field",
        ),
        (
            "query='a'&&distinct=dist_key:cat,dist_count:0",
            6119,
            "at least 1",
        ),
        ("query='a'&&filter=title=\"x\"", 6127, "title"),
        ("query='a'&&filter=brand=Apple", 6135, "quote"),
        ("query='a'&&aggregate=group_key:cat", 6300, "agg_fun"),
        (
            "query='a'&&filter=soundex(brand)>1",
            6113,
            "soundex() is not supported",
        ),
        (
            "query='a'&&filter=fieldlen(price)>1",
            6113,
            "fieldlen takes one LITERAL or array attribute field",
        ),
        (
            "query='a'&&filter=distance(loc,\"116.3\",\"north\")<5",
            6113,
            "latitude \"north\" is not a number (at position 21",
        ),
        (
            "query='a'&&sort=+distance(brand,cat,loc)",
            6115,
            "the longitude 'brand' is Literal",
        ),
        (
            "query='a'&&filter=distance(loc,\"116.3\",\"95\")<5",
            6113,
            "latitude 95 is outside -90..90",
        ),
        ("query=en:[1,2]", 6008, "range"),
    ];
    for (query, code, needle) in cases {
        let (status, got, message) = s.error(query).await;
        assert_eq!(got, *code, "{query}: {message}");
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}");
        assert!(
            message.to_lowercase().contains(&needle.to_lowercase()),
            "{query}: {message}"
        );
    }
    // Several apps in one path.
    let (status, body) = s.get("shop,other", &[("query", "query='a'")]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("6006"), "{body}");
    // Unknown app.
    let (status, body) = s.get("nope", &[("query", "query='a'")]).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body.contains("2001"), "{body}");
    // Secondary-table fields are refused with the reason.
    let (status, body) = s
        .get(
            "shop",
            &[("query", "query='a'"), ("fetch_fields", "id;note")],
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("secondary table"), "{body}");
    // An unsigned search is refused.
    let resp = s
        .http
        .get(format!(
            "{}/v3/openapi/apps/shop/search?query=query%3D'a'",
            s.base
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn fresh_pushes_are_searchable_and_deletes_disappear() {
    let s = start().await;
    s.push(
        "shop",
        "main",
        r#"[{"cmd": "add", "fields": {"id": "7", "title_en": "brand new zebra", "price": 1, "cat": 9, "brand": "Z"}},
            {"cmd": "delete", "fields": {"id": "1"}}]"#,
    )
    .await;
    assert_eq!(ids(&s.search("query=en:'zebra'").await), ["7"]);
    assert!(ids(&s.search("query=en:'university'").await) == ["6"]);
    let v = s.search("query=''").await;
    assert_eq!(v["result"]["total"], 6);
}

#[tokio::test]
async fn metrics_show_pushes_searches_and_table_state() {
    let s = start().await;
    s.search("query=''").await;
    let body = s
        .http
        .get(format!("{}/metrics", s.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for needle in [
        "pier_table_documents{app=\"shop\",table=\"main\"} 6",
        "pier_table_lag_batches{app=\"shop\",table=\"main\"} 0",
        "pier_table_log_bytes{app=\"shop\",table=\"main\"}",
        "pier_push_requests_total{api=\"v3\",app=\"shop\",outcome=\"ok\"}",
        "pier_push_ack_seconds_bucket{api=\"v3\",le=\"0.005\"}",
        "pier_search_requests_total{api=\"v3\",outcome=\"ok\"}",
        "pier_search_seconds_count{api=\"v3\"}",
        "pier_documents_applied_total{app=\"shop\",table=\"main\"}",
        "pier_index_commit_seconds_count",
    ] {
        assert!(body.contains(needle), "{needle} missing from:\n{body}");
    }
}

#[tokio::test]
async fn suggest_completes_typed_prefixes_from_an_index() {
    let s = start().await;
    let call = |name: &str, params: Vec<(String, String)>| {
        let path = format!("/v3/openapi/apps/shop/suggest/{name}/search");
        let headers = pier_auth::sign_request(
            &s.key.0,
            &s.key.1,
            "GET",
            &path,
            &params,
            b"",
            time::OffsetDateTime::now_utc(),
        );
        let mut req = s.http.get(format!("{}{path}", s.base)).query(&params);
        for (k, v) in headers {
            req = req.header(k, v);
        }
        async move {
            let resp = req.send().await.unwrap();
            (resp.status(), resp.json::<Value>().await.unwrap())
        }
    };
    let p = |q: &str, hit: &str| {
        vec![
            ("query".to_string(), q.to_string()),
            ("hit".to_string(), hit.to_string()),
        ]
    };
    let (status, v) = call("default", p("苹果手", "10")).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(
        v["suggestions"],
        json!([{"suggestion": "苹果手机充电器"}]),
        "{v}"
    );
    assert_eq!(v["errors"], json!([]));
    assert!(v["request_id"].as_str().is_some() && v["searchtime"].is_number());
    let (_, v) = call("en", p("apple ph", "10")).await;
    assert_eq!(
        v["suggestions"],
        json!([{"suggestion": "Apple phone chargers charging fast"}]),
        "{v}"
    );
    let (_, v) = call("default", p("大学", "1")).await;
    assert_eq!(v["suggestions"].as_array().unwrap().len(), 1, "{v}");
    let (status, v) = call("default", p("x", "11")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
    let (status, v) = call("nosuch", p("x", "5")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
    assert_eq!(v["errors"][0]["code"], json!(6101), "{v}");
}

const DELIVERY_SCHEMA: &str = r#"{"tables": {"main": {"primaryTable": true, "fields": {
    "id": {"type": "LITERAL", "primaryKey": true}, "name": {"type": "TEXT"},
    "area": {"type": "DOUBLE_ARRAY"}, "pt": {"type": "DOUBLE_ARRAY"}, "loc": {"type": "GEO_POINT"},
    "open_time": {"type": "INT_ARRAY"}, "prices": {"type": "INT_ARRAY"}, "price": {"type": "INT"},
    "title": {"type": "TEXT"}}}},
    "indexes": {"searchFields": {"default": {"fields": ["name"], "analyzer": "chn_standard"}},
      "filterFields": ["id", "area", "pt", "loc", "open_time", "prices", "price"]}}"#;

/// Opening periods as the cloud's bit_struct example packs them: start minute in the high 32
/// bits, end minute in the low 32.
const fn period(start: i64, end: i64) -> i64 {
    (start << 32) | end
}

/// The cloud's functionality functions in filter and sort clauses, over HTTP, with the exact
/// hits and the error codes of bad calls.
#[tokio::test]
async fn functionality_functions_filter_and_sort() {
    let s = start().await;
    let schema: Value = serde_json::from_str(DELIVERY_SCHEMA).unwrap();
    let resp = s
        .http
        .post(format!("{}/api/v1/apps", s.base))
        .basic_auth(&s.key.0, Some(&s.key.1))
        .json(&json!({"name": "delivery", "type": "advanced", "schema": schema}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
    let docs = json!([
        // Delivers to a square around West Lake; open 8:00-12:00 and 13:00-22:00.
        {"cmd": "add", "fields": {"id": "lake", "name": "外婆家", "price": 80,
            "area": [120.10, 30.20, 120.20, 30.20, 120.20, 30.30, 120.10, 30.30],
            "pt": [120.15, 30.25], "loc": "120.15 30.25",
            "open_time": [period(480, 720), period(780, 1320)], "prices": [100, 80, 60]}},
        // Two areas (multi-polygon layout: N, vertex counts, coordinates); open mornings only.
        {"cmd": "add", "fields": {"id": "station", "name": "外婆家", "price": 50,
            "area": [2, 3, 4, 0, 0, 1, 0, 1, 1, 121.0, 31.0, 122.0, 31.0, 122.0, 32.0, 121.0, 32.0],
            "pt": [121.5, 31.5], "loc": "121.5 31.5",
            "open_time": [period(420, 600)], "prices": [90]}},
        {"cmd": "add", "fields": {"id": "none", "name": "外婆家", "price": 20}}
    ]);
    s.push("delivery", "main", &docs.to_string()).await;
    let hits = |v: &Value| {
        let mut ids = ids(v);
        ids.sort();
        ids
    };
    let cases: &[(&str, &[&str])] = &[
        ("filter=in_polygon(area, 120.15, 30.25)>0", &["lake"]),
        (
            "filter=in_polygon(area, 121.5, 31.5, \"true\")=2",
            &["station"],
        ),
        ("filter=in_polygon(area, 121.5, 31.5)>0", &[]),
        (
            r"filter=in_query_polygon(polygons, pt)>0&&kvpairs=polygons:120.1\,30.2\,120.3\,30.2\,120.3\,30.4\,120.1\,30.4",
            &["lake"],
        ),
        (
            r#"filter=in_query_polygon("polygons", loc)=2&&kvpairs=polygons:0\,0\,1\,0\,1\,1;121\,31\,122\,31\,122\,32\,121\,32"#,
            &["station"],
        ),
        (
            r#"filter=bit_struct(open_time, "0-31,32-63", "overlap,$1,$2,840,930")!=-1"#,
            &["lake"],
        ),
        (
            r#"filter=bit_struct(open_time, "0-31,32-63", "equal,$1,420")=0"#,
            &["station"],
        ),
        ("filter=multi_attr(prices, 0)<95", &["none", "station"]),
        ("filter=multi_attr(prices, 1, \"1000\")<85", &["lake"]),
        ("filter=price>=50 AND price<80", &["station"]),
        ("filter=price>=0", &["lake", "none", "station"]),
    ];
    for (clauses, expected) in cases {
        let query = format!("query=default:'外婆家'&&{clauses}&&config=format:fulljson");
        let (status, body) = s.get("delivery", &[("query", &query)]).await;
        assert_eq!(status, StatusCode::OK, "{query}: {body}");
        let v: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(hits(&v), *expected, "{query}: {v}");
        assert_eq!(v["result"]["total"], expected.len(), "{query}");
    }
    // Sort keys: the discount price (second value, 600 when missing), the polygon index.
    let (_, body) = s
        .get(
            "delivery",
            &[(
                "query",
                "query=default:'外婆家'&&sort=+multi_attr(prices, 1, \"600\");+id&&config=format:fulljson",
            )],
        )
        .await;
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(ids(&v), ["lake", "none", "station"], "{v}");
    assert_eq!(v["result"]["items"][0]["sortExprValues"][0], "80", "{v}");
    // Bad calls: the clause's syntax code, or 6127 for a field that is not an attribute.
    let errors: &[(&str, u64, &str)] = &[
        (
            "filter=in_polygon(area, 1)>0",
            6113,
            "in_polygon() takes 3 or 4 arguments",
        ),
        ("filter=in_polygon(price, 1, 2)>0", 6113, "'price' is Int"),
        (
            "filter=in_polygon(name, 1, 2)>0",
            6127,
            "'name' is not an attribute field",
        ),
        (
            "filter=in_query_polygon(\"nokey\", pt)>0",
            6113,
            "not a key of the kvpairs clause",
        ),
        (
            "filter=in_query_polygon(\"k\", price)>0&&kvpairs=k:0\\,0\\,1\\,0\\,1\\,1",
            6113,
            "'price' is Int",
        ),
        (
            "filter=bit_struct(open_time, \"0-64\", \"equal,$1,1\")>0",
            6113,
            "0 <= start <= end <= 63",
        ),
        (
            "filter=bit_struct(open_time, \"0-63\", \"equal,$1,$2\")>0",
            6113,
            "refers to $2",
        ),
        (
            "sort=-bit_struct(prices, \"0-63\")",
            6115,
            "1 to 5 operations",
        ),
        ("filter=multi_attr(price, 0)>0", 6113, "'price' is Int"),
        ("sort=+multi_attr(prices, -1)", 6115, "whole number"),
    ];
    for (clauses, code, needle) in errors {
        let query = format!("query=default:'外婆家'&&{clauses}");
        let (status, body) = s.get("delivery", &[("query", &query)]).await;
        let v: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {v}");
        assert_eq!(v["errors"][0]["code"], *code, "{query}: {v}");
        let message = v["errors"][0]["message"].as_str().unwrap();
        assert!(message.contains(needle), "{query}: {message}");
    }
}
