//! Every request example of the wire spec (§2.1–§2.6), parsed exactly as written, and the
//! validation errors.

use super::*;
use crate::filter::{CmpOp, Expr, Number, SortExpr};
use serde_json::json;

fn schema3() -> VectorTableSchema {
    crate::push::tests::schema()
}

/// A table with a 2-d index and no namespace, for the examples with 2-d vectors.
fn schema2() -> VectorTableSchema {
    VectorTableSchema::from_json(&json!({"name": "test", "primaryKey": "id",
        "fieldSchema": {"id": "INT64", "cate_id": "INT32", "title": "TEXT", "vector": "MULTI_FLOAT", "ns": "STRING"},
        "vectorIndex": [{"indexName": "v2", "vectorField": "vector", "dimension": "2", "distanceType": "InnerProduct"}]}))
    .unwrap()
}

const SPEC_QUERY: &str = r#"{"tableName":"test","vector":[0.1,0.2,0.3],"namespace":"ns1","topK":5,"sparseData":{"count":[2],"indices":[1,5],"values":[0.5,0.4]},"includeVector":true,"outputFields":["id","cate_id"],"order":"ASC","searchParams":"{\"qc.searcher.scan_ratio\":0.01}","filter":"cate_id=2","scoreThreshold":0.5,"sorts":[]}"#;

#[test]
fn spec_2_1_query() {
    let mut q = QueryRequest::parse(SPEC_QUERY.as_bytes()).unwrap();
    assert_eq!(q.table_name, "test");
    assert_eq!(q.vector, vec![0.1, 0.2, 0.3]);
    assert_eq!(q.namespace.as_deref(), Some("ns1"));
    assert_eq!(q.top_k, 5);
    let sp = q.sparse.as_ref().unwrap();
    assert_eq!(
        (sp.count.clone(), sp.indices.clone(), sp.values.clone()),
        (vec![2], vec![1, 5], vec![0.5, 0.4])
    );
    assert!(q.include_vector);
    assert_eq!(q.output_fields, vec!["id", "cate_id"]);
    assert_eq!(q.order, Some(Order::Asc));
    assert_eq!(q.search_params.scan_ratio, Some(0.01));
    assert_eq!(
        q.filter.as_ref().unwrap().expr,
        Expr::Compare {
            op: CmpOp::Eq,
            left: Box::new(Expr::Field("cate_id".into())),
            right: Box::new(Expr::Number(Number::Int(2)))
        }
    );
    assert_eq!(q.filter.as_ref().unwrap().source, "cate_id=2");
    assert_eq!(q.score_threshold, Some(0.5));
    assert!(q.sorts.is_empty() && q.sort.is_empty());
    let s3 = schema3();
    let index = q.resolve(&s3).unwrap();
    assert_eq!(index.name, "vec_idx");
    assert_eq!(q.index_name.as_deref(), Some("vec_idx"));
    assert_eq!(q.effective_order(index.distance_type), Order::Asc);
    assert_eq!(
        index
            .search_params
            .overridden_by(&q.search_params)
            .effective_ef(),
        500
    );
}

#[test]
fn defaults_of_a_minimal_query() {
    let mut q = QueryRequest::parse(br#"{"tableName":"test","vector":[1,2],"sorts":[]}"#).unwrap();
    assert_eq!(
        (q.top_k, q.vector_count, q.include_vector, q.order),
        (DEFAULT_TOP_K, 1, false, None)
    );
    assert!(q.output_fields.is_empty() && q.namespace.is_none() && q.filter.is_none());
    let s2 = schema2();
    let index = q.resolve(&s2).unwrap();
    assert_eq!(q.effective_order(index.distance_type), Order::Desc);
    assert_eq!(q.vectors().count(), 1);
    // LangChain sends "namespace":"" and "filter":"" when it has none.
    let q = QueryRequest::parse(br#"{"tableName":"test","namespace":"","filter":"","vector":[1,2],"outputFields":["id"],"includeVector":true,"topK":4,"sorts":[]}"#).unwrap();
    assert!(q.namespace.is_none() && q.filter.is_none());
}

#[test]
fn full_query_keys() {
    let body = r#"{"tableName":"test","vector":[0.1,0.2,0.3,0.4,0.5,0.6],"topK":10,"indexName":"vec_idx","weight":0.7,"includeVector":false,"outputFields":[],"order":"DESC","searchParams":"{\"proxima.hnsw.searcher.ef\":400}","textQueryString":"title:'hello'","filter":"tag=\"x\" AND in(cate_id, \"1|2\")","vectorCount":2,"sort":"+price;-RANK","kvpairs":{"k1":"v1"},"sorts":[{"order":"DESC","expression":"price"}],"namespace":"a"}"#;
    let q = QueryRequest::parse(body.as_bytes()).unwrap();
    assert_eq!(q.vector_count, 2);
    assert_eq!(
        q.vectors().collect::<Vec<_>>(),
        vec![&[0.1, 0.2, 0.3][..], &[0.4, 0.5, 0.6][..]]
    );
    assert_eq!(q.weight, Some(0.7));
    assert_eq!(q.search_params.ef, Some(400));
    assert_eq!(q.text_query_string.as_deref(), Some("title:'hello'"));
    assert_eq!(q.sort.len(), 2);
    assert_eq!(q.sort[1].key, SortExpr::Rank);
    assert_eq!(q.sorts[0].order, Order::Desc);
    assert_eq!(q.kvpairs.get("k1").map(String::as_str), Some("v1"));
    let mut ok = q.clone();
    ok.filter = None;
    ok.sort.clear();
    ok.sorts.clear();
    ok.resolve(&schema3()).unwrap();
    // "tag" and "price" are not fields of the table.
    assert_eq!(q.clone().resolve(&schema3()).unwrap_err().code.0, 6127);
}

#[test]
fn check_dimension_messages() {
    let s = schema3();
    assert!(check_dimension(&s, "vec_idx", &[0.1, 0.2, 0.3], 1).is_ok());
    assert!(check_dimension(&s, "VEC_IDX", &[0.0; 6], 2).is_ok());
    let e = check_dimension(&s, "vec_idx", &[0.1, 0.2], 1).unwrap_err();
    assert_eq!((e.code.0, e.status), (6008, 400));
    assert_eq!(
        e.message,
        "the query vector has 2 values, but index 'vec_idx' of table 'test' has dimension 3: send 3 numbers"
    );
    let e = check_dimension(&s, "vec_idx", &[0.0; 6], 1).unwrap_err();
    assert!(
        e.message.contains("set \"vectorCount\" to 2"),
        "{}",
        e.message
    );
    let e = check_dimension(&s, "vec_idx", &[0.0; 3], 2).unwrap_err();
    assert!(
        e.message
            .contains("and \"vectorCount\" is 2: send 6 numbers"),
        "{}",
        e.message
    );
    assert_eq!(
        check_dimension(&s, "nope", &[0.0; 3], 1)
            .unwrap_err()
            .code
            .0,
        6101
    );
}

#[test]
fn query_validation_errors() {
    let cases: &[(&str, u32, &str)] = &[
        ("", 4007, "empty"),
        ("[1]", 4007, "JSON object"),
        ("{\"tableName\":", 4007, "not valid JSON"),
        (r#"{"tableName":"t","vector":[NaN]}"#, 4007, "NaN"),
        (r#"{"vector":[1,2,3]}"#, 6008, "\"tableName\" is required"),
        (
            r#"{"tableName":"  ","vector":[1,2,3]}"#,
            6008,
            "\"tableName\" is required",
        ),
        (r#"{"tableName":"t"}"#, 6008, "\"vector\" is required"),
        (
            r#"{"tableName":"t","vector":[]}"#,
            6008,
            "\"vector\" is required",
        ),
        (r#"{"tableName":"t","vector":"a,b"}"#, 6008, "\"vector\""),
        (r#"{"tableName":"t","vector":[1,"x"]}"#, 6008, "finite"),
        (r#"{"tableName":"t","vector":{}}"#, 6008, "vector"),
        (
            r#"{"tableName":"t","vector":[1],"topK":0}"#,
            6008,
            "\"topK\" must be an integer from 1 to 10000",
        ),
        (
            r#"{"tableName":"t","vector":[1],"topK":10001}"#,
            6008,
            "topK",
        ),
        (
            r#"{"tableName":"t","vector":[1],"topK":"ten"}"#,
            6008,
            "topK",
        ),
        (r#"{"tableName":"t","vector":[1],"topK":1.5}"#, 6008, "topK"),
        (
            r#"{"tableName":"t","vector":[1],"vectorCount":0}"#,
            6008,
            "vectorCount",
        ),
        (
            r#"{"tableName":"t","vector":[1],"order":"UP"}"#,
            6008,
            "\"ASC\" or \"DESC\"",
        ),
        (
            r#"{"tableName":"t","vector":[1],"includeVector":"yes"}"#,
            6008,
            "true or false",
        ),
        (
            r#"{"tableName":"t","vector":[1],"outputFields":"id"}"#,
            6008,
            "list of strings",
        ),
        (
            r#"{"tableName":"t","vector":[1],"outputFields":[{}]}"#,
            6008,
            "list of strings",
        ),
        (
            r#"{"tableName":"t","vector":[1],"scoreThreshold":"high"}"#,
            6008,
            "a number",
        ),
        (
            r#"{"tableName":"t","vector":[1],"searchParams":"{bad"}"#,
            6008,
            "searchParams",
        ),
        (
            r#"{"tableName":"t","vector":[1],"searchParams":"{\"proxima.hnsw.searcher.ef\":-1}"}"#,
            6008,
            "ef",
        ),
        (
            r#"{"tableName":"t","vector":[1],"filter":"a="}"#,
            6113,
            "filter",
        ),
        (
            r#"{"tableName":"t","vector":[1],"filter":[5]}"#,
            6008,
            "a string",
        ),
        (
            r#"{"tableName":"t","vector":[1],"sort":"+a;;"}"#,
            6115,
            "sort",
        ),
        (
            r#"{"tableName":"t","vector":[1],"sorts":[1]}"#,
            6008,
            "sorts[0]",
        ),
        (
            r#"{"tableName":"t","vector":[1],"sorts":[{"order":"ASC"}]}"#,
            6008,
            "sorts[0].expression",
        ),
        (
            r#"{"tableName":"t","vector":[1],"sorts":[{"expression":"a+"}]}"#,
            6115,
            "sorts[0].expression",
        ),
        (
            r#"{"tableName":"t","vector":[1],"kvpairs":[]}"#,
            6008,
            "kvpairs",
        ),
        (
            r#"{"tableName":"t","sparseData":{"values":[1]}}"#,
            6008,
            "\"indices\" is required",
        ),
        (
            r#"{"tableName":"t","sparseData":{"indices":[1]}}"#,
            6008,
            "\"values\" is required",
        ),
        (
            r#"{"tableName":"t","sparseData":{"indices":[1,2],"values":[1]}}"#,
            6008,
            "pair up",
        ),
        (
            r#"{"tableName":"t","sparseData":{"indices":[2,1],"values":[1,1]}}"#,
            6008,
            "sorted ascending",
        ),
        (
            r#"{"tableName":"t","sparseData":{"indices":[1,2],"values":[1,1],"count":[3]}}"#,
            6008,
            "adds up to 3",
        ),
        (
            r#"{"tableName":"t","sparseData":{"indices":[-1],"values":[1]}}"#,
            6008,
            "from 0 to",
        ),
        (r#"{"tableName":"t","sparseData":[]}"#, 6008, "JSON object"),
    ];
    for (body, code, needle) in cases {
        let e = QueryRequest::parse(body.as_bytes()).unwrap_err();
        assert_eq!(e.code.0, *code, "{body}: {}", e.message);
        assert!(e.message.contains(needle), "{body}: {}", e.message);
    }
    // Several sparse vectors, each sorted on its own.
    let q = QueryRequest::parse(
        br#"{"tableName":"t","sparseData":{"count":[2,2],"indices":[1,5,0,3],"values":[1,2,3,4]}}"#,
    )
    .unwrap();
    let v: Vec<_> = q.sparse.as_ref().unwrap().vectors().collect();
    assert_eq!(v[1], (&[0u32, 3][..], &[3.0f32, 4.0][..]));
}

#[test]
fn resolve_errors() {
    let s = schema3();
    let resolve = |body: &str| {
        QueryRequest::parse(body.as_bytes())
            .unwrap()
            .resolve(&s)
            .map(|_| ())
            .unwrap_err()
    };
    let e = resolve(r#"{"tableName":"test","vector":[1,2,3]}"#);
    assert_eq!(e.code.0, 6008);
    assert!(
        e.message.contains("\"namespace\" is required"),
        "{}",
        e.message
    );
    let e = resolve(r#"{"tableName":"test","vector":[1,2],"namespace":"a"}"#);
    assert!(e.message.contains("dimension 3"), "{}", e.message);
    assert_eq!(
        resolve(r#"{"tableName":"test","indexName":"x","vector":[1,2,3],"namespace":"a"}"#)
            .code
            .0,
        6101
    );
    assert_eq!(
        resolve(r#"{"tableName":"test","vector":[1,2,3],"namespace":"a","outputFields":["nope"]}"#)
            .code
            .0,
        6127
    );
    assert_eq!(
        resolve(r#"{"tableName":"test","vector":[1,2,3],"namespace":"a","filter":"ns=a"}"#)
            .code
            .0,
        6135
    );
    assert_eq!(
        resolve(r#"{"tableName":"test","vector":[1,2,3],"namespace":"a","sort":"-nope"}"#)
            .code
            .0,
        6127
    );
    let s2 = schema2();
    let e = QueryRequest::parse(
        br#"{"tableName":"test","vector":[1,2],"sparseData":{"indices":[1],"values":[1]}}"#,
    )
    .unwrap()
    .resolve(&s2)
    .unwrap_err();
    assert!(e.message.contains("no sparseIndexField"), "{}", e.message);
    let empty = VectorTableSchema::from_json(
        &json!({"name": "t", "primaryKey": "id", "fieldSchema": {"id": "STRING"}}),
    )
    .unwrap();
    let e = QueryRequest::parse(br#"{"tableName":"t","vector":[1]}"#)
        .unwrap()
        .resolve(&empty)
        .unwrap_err();
    assert_eq!(e.code.0, 6101);
    // Sparse-only query on the sparse index.
    let mut q = QueryRequest::parse(br#"{"tableName":"test","namespace":"a","sparseData":{"indices":[1],"values":[1]},"outputFields":["ID","Cate_Id"]}"#).unwrap();
    q.resolve(&s).unwrap();
    assert_eq!(q.output_fields, vec!["id", "cate_id"]);
}

#[test]
fn inference_query() {
    let q = QueryRequest::parse_inference(
        br#"{"tableName":"test","topK":3,"content":"hello","modal":"text","sorts":[]}"#,
    )
    .unwrap();
    let inf = q.inference.as_ref().unwrap();
    assert_eq!(
        (inf.content.as_deref(), inf.modal.as_deref()),
        (Some("hello"), Some("text"))
    );
    assert!(q.vector.is_empty());
    assert!(
        QueryRequest::parse_inference(br#"{"tableName":"test","topK":3}"#)
            .unwrap_err()
            .message
            .contains("content")
    );
}

#[test]
fn spec_2_3_fetch() {
    let mut f = FetchRequest::parse(
        br#"{"tableName":"test","ids":["1","2"],"includeVector":true,"outputFields":["id"]}"#,
    )
    .unwrap();
    assert_eq!(
        f.ids.as_deref(),
        Some(&["1".to_string(), "2".to_string()][..])
    );
    assert!(f.include_vector);
    assert_eq!(f.output_fields, vec!["id"]);
    f.resolve(&schema3()).unwrap();
    let f = FetchRequest::parse(
        br#"{"tableName":"test","filter":"cate_id=2","sort":"+id","limit":10,"offset":0}"#,
    )
    .unwrap();
    assert!(f.ids.is_none());
    assert_eq!((f.limit, f.offset), (10, 0));
    assert_eq!(f.sort[0].order, Order::Asc);
    assert!(f.filter.is_some());
    // With ids, the conditions are ignored, even broken ones.
    let mut f = FetchRequest::parse(
        br#"{"tableName":"test","ids":["007",8,"x"],"filter":"((","limit":-5}"#,
    )
    .unwrap();
    assert!(f.filter.is_none());
    f.resolve(&schema3()).unwrap();
    assert_eq!(f.ids.unwrap(), vec!["7", "8", "x"]);
    let f = FetchRequest::parse(br#"{"tableName":"test"}"#).unwrap();
    assert_eq!((f.limit, f.offset), (DEFAULT_FETCH_LIMIT, 0));
    for (body, needle) in [
        (r#"{"ids":["1"]}"#, "tableName"),
        (r#"{"tableName":"t","ids":"1"}"#, "list of strings"),
        (r#"{"tableName":"t","limit":9000,"offset":2000}"#, "offset"),
        (r#"{"tableName":"t","limit":-1}"#, "limit"),
        (r#"{"tableName":"t","filter":"a"}"#, "condition"),
    ] {
        let e = FetchRequest::parse(body.as_bytes()).unwrap_err();
        assert!(e.message.contains(needle), "{body}: {}", e.message);
    }
    let many = format!(
        r#"{{"tableName":"t","ids":[{}]}}"#,
        vec!["\"1\""; MAX_FETCH_IDS + 1].join(",")
    );
    assert!(
        FetchRequest::parse(many.as_bytes())
            .unwrap_err()
            .message
            .contains("limit is 1000")
    );
}

#[test]
fn spec_2_4_multi_query() {
    let body = r#"{"tableName":"test","queries":[{"tableName":"test","vector":[0.1,0.2],"namespace":"a","sorts":[]},{"tableName":"test","vector":[0.3,0.4],"namespace":"b","sorts":[]}],"topK":3,"mode":"max"}"#;
    let mut m = MultiQueryRequest::parse(body.as_bytes()).unwrap();
    assert_eq!(m.queries.len(), 2);
    assert_eq!(m.queries[1].namespace.as_deref(), Some("b"));
    assert_eq!((m.top_k, m.mode), (3, MergeMode::Max));
    let s2 = schema2();
    let idx = m.resolve(&s2).unwrap();
    assert_eq!(idx[0].name, "v2");
    let m =
        MultiQueryRequest::parse(br#"{"tableName":"test","queries":[{"vector":[1,2]}]}"#).unwrap();
    assert_eq!(
        (m.mode, m.queries[0].table_name.as_str()),
        (MergeMode::Sum, "test")
    );
    for (body, needle) in [
        (r#"{"tableName":"test"}"#, "\"queries\" must hold 1 to 100"),
        (
            r#"{"tableName":"test","queries":[]}"#,
            "\"queries\" must hold",
        ),
        (r#"{"tableName":"test","queries":[null]}"#, "queries[0]"),
        (
            r#"{"tableName":"test","queries":[{"tableName":"other","vector":[1]}]}"#,
            "same table",
        ),
        (
            r#"{"tableName":"test","queries":[{"vector":[]}]}"#,
            "queries[0].vector",
        ),
        (
            r#"{"tableName":"test","queries":[{"vector":[1]}],"mode":"avg"}"#,
            "\"mode\"",
        ),
        (
            r#"{"tableName":"test","queries":[{"vector":[1],"topK":0}]}"#,
            "queries[0].topK",
        ),
    ] {
        let e = MultiQueryRequest::parse(body.as_bytes()).unwrap_err();
        assert!(e.message.contains(needle), "{body}: {}", e.message);
    }
    let e = MultiQueryRequest::parse(
        br#"{"tableName":"test","queries":[{"vector":[1,2]},{"vector":[1]}]}"#,
    )
    .unwrap()
    .resolve(&schema2())
    .unwrap_err();
    assert!(e.message.starts_with("queries[1]: "), "{}", e.message);
}

#[test]
fn spec_2_5_search() {
    let body = r#"{"tableName":"test","size":10,"from":0,"outputFields":["title"],"knn":{"tableName":"test","vector":[0.1,0.2],"topK":10,"weight":0.5,"sorts":[]},"text":{"queryString":"title:'hello'","queryParams":{"default_op":"OR"},"weight":0.5},"rank":{"rrf":{"rank_constant":"60"}}}"#;
    let mut s = SearchRequest::parse(body.as_bytes()).unwrap();
    assert_eq!((s.size, s.from, s.order), (10, 0, Order::Desc));
    assert_eq!(
        s.rank,
        Rank::Rrf {
            rank_constant: 60.0
        }
    );
    let t = s.text.as_ref().unwrap();
    assert_eq!(t.query_string, "title:'hello'");
    assert_eq!(t.query_params.default_op, DefaultOp::Or);
    assert_eq!(t.weight, 0.5);
    assert_eq!((s.knn_weight(), s.text_weight()), (0.5, 0.5));
    assert_eq!(s.knn.as_ref().unwrap().top_k, 10);
    assert_eq!(s.resolve(&schema2()).unwrap().unwrap().name, "v2");

    let body = r#"{"tableName":"test","order":"DESC","knn":{"tableName":"test","vector":[0.1,0.2],"namespace":"a","weight":0.3,"sorts":[]},"text":{"queryString":"title:'你好'","filter":"cate_id>1","weight":0.7,"terminateAfter":1000},"rank":{}}"#;
    let s = SearchRequest::parse(body.as_bytes()).unwrap();
    assert_eq!(s.rank, Rank::WeightedSum);
    assert_eq!((s.size, s.from), (DEFAULT_SEARCH_SIZE, 0));
    let t = s.text.as_ref().unwrap();
    assert_eq!(
        (
            t.terminate_after,
            t.query_params.default_op,
            t.query_params.remove_stopwords
        ),
        (1000, DefaultOp::And, true)
    );
    assert!(t.filter.is_some());
    let s = SearchRequest::parse(br#"{"tableName":"t","text":{"queryString":"a:'b'","queryParams":{"no_token_indexes":"a;b","remove_stopwords":"false","x":"y"}},"rank":{"rrf":{"rankConstant":10}}}"#).unwrap();
    assert_eq!(
        s.rank,
        Rank::Rrf {
            rank_constant: 10.0
        }
    );
    let qp = &s.text.as_ref().unwrap().query_params;
    assert_eq!(qp.no_token_indexes, vec!["a", "b"]);
    assert!(!qp.remove_stopwords);
    assert_eq!(qp.other.get("x").map(String::as_str), Some("y"));
    let s = SearchRequest::parse(br#"{"tableName":"t","knn":{"vector":[1]},"rank":{"rrf":{}}}"#)
        .unwrap();
    assert_eq!(
        s.rank,
        Rank::Rrf {
            rank_constant: DEFAULT_RANK_CONSTANT
        }
    );
    for (body, needle) in [
        (r#"{"tableName":"t"}"#, "\"knn\""),
        (r#"{"tableName":"t","text":{}}"#, "text.queryString"),
        (
            r#"{"tableName":"t","text":{"queryString":"a","queryParams":{"default_op":"XOR"}}}"#,
            "default_op",
        ),
        (
            r#"{"tableName":"t","knn":{"vector":[1]},"rank":{"rrf":{"rankConstant":-1}}}"#,
            "rankConstant",
        ),
        (
            r#"{"tableName":"t","knn":{"vector":[1]},"size":9000,"from":2000}"#,
            "\"from\" + \"size\"",
        ),
        (r#"{"tableName":"t","knn":[]}"#, "JSON object"),
        (
            r#"{"tableName":"t","knn":{"tableName":"u","vector":[1]}}"#,
            "same table",
        ),
    ] {
        let e = SearchRequest::parse(body.as_bytes()).unwrap_err();
        assert!(e.message.contains(needle), "{body}: {}", e.message);
    }
    let e = SearchRequest::parse(br#"{"tableName":"test","knn":{"vector":[1]}}"#)
        .unwrap()
        .resolve(&schema2())
        .unwrap_err();
    assert!(e.message.starts_with("knn: "), "{}", e.message);
}

#[test]
fn spec_2_6_aggregate_batch_stats() {
    let body = r#"{"tableName":"test","groupKeys":["cate_id"],"aggFuncs":[{"func":"count","args":["*"]}],"orderBy":[{"field":"cate_id","direction":"ASC"}]}"#;
    let mut a = AggregateRequest::parse(body.as_bytes()).unwrap();
    assert_eq!(a.group_keys, vec!["cate_id"]);
    assert_eq!(
        a.agg_funcs[0],
        AggFunc {
            name: "count(*)".into(),
            func: AggFn::Count,
            args: vec!["*".into()]
        }
    );
    assert_eq!(
        a.order_by[0],
        OrderBy {
            field: "cate_id".into(),
            direction: Order::Asc
        }
    );
    a.resolve(&schema3()).unwrap();
    let mut a = AggregateRequest::parse(br#"{"tableName":"test","groupKeys":["CATE_ID"],"aggFuncs":[{"func":"SUM","args":["Cate_Id"],"name":"s"}],"orderBy":[{"field":"s","direction":"desc"},{"field":"cate_id"}],"filter":"cate_id>0","timeout":500}"#).unwrap();
    a.resolve(&schema3()).unwrap();
    assert_eq!(
        (a.group_keys[0].as_str(), a.agg_funcs[0].args[0].as_str()),
        ("cate_id", "cate_id")
    );
    assert_eq!(a.order_by[1].field, "cate_id");
    assert_eq!(a.timeout_ms, Some(500));
    for (body, needle) in [
        (r#"{"tableName":"t","aggFuncs":[]}"#, "aggFuncs"),
        (
            r#"{"tableName":"t","aggFuncs":[{"func":"median","args":["a"]}]}"#,
            "max, min, avg, sum or count",
        ),
        (
            r#"{"tableName":"t","aggFuncs":[{"func":"sum","args":["*"]}]}"#,
            "one field name",
        ),
        (
            r#"{"tableName":"t","aggFuncs":[{"func":"sum","args":[]}]}"#,
            "one field name",
        ),
        (
            r#"{"tableName":"t","aggFuncs":[{"func":"count","args":["*"]},{"func":"count","args":["*"]}]}"#,
            "used twice",
        ),
        (
            r#"{"tableName":"t","aggFuncs":[{"func":"count","args":["*"]}],"orderBy":[{"field":"x"}]}"#,
            "not a result column",
        ),
        (
            r#"{"tableName":"t","aggFuncs":[{"func":"count","args":["*"]}],"orderBy":[{"field":"count(*)","direction":"UP"}]}"#,
            "ASC",
        ),
    ] {
        let e = AggregateRequest::parse(body.as_bytes()).unwrap_err();
        assert!(e.message.contains(needle), "{body}: {}", e.message);
    }
    let e = AggregateRequest::parse(
        br#"{"tableName":"t","groupKeys":["vector"],"aggFuncs":[{"func":"count","args":["*"]}]}"#,
    )
    .unwrap()
    .resolve(&schema3())
    .unwrap_err();
    assert_eq!(e.code.0, 6127);
    for (body, needle) in [
        (
            r#"{"tableName":"test","groupKeys":["title"],"aggFuncs":[{"func":"count","args":["*"]}]}"#,
            "TEXT fields cannot be aggregated",
        ),
        (
            r#"{"tableName":"test","aggFuncs":[{"func":"avg","args":["ns"]}]}"#,
            "take a numeric field",
        ),
    ] {
        let e = AggregateRequest::parse(body.as_bytes())
            .unwrap()
            .resolve(&schema2())
            .unwrap_err();
        assert!(e.message.contains(needle), "{body}: {}", e.message);
    }
    let mut a = AggregateRequest::parse(
        br#"{"tableName":"test","groupKeys":["ns"],"aggFuncs":[{"func":"count","args":["ns"]},{"func":"max","args":["cate_id"]}]}"#,
    )
    .unwrap();
    a.resolve(&schema2()).unwrap();

    let b = BatchQueryRequest::parse(
        br#"{"queries":[{"tableName":"test","vector":[0.1],"sorts":[]}],"timeout":1000}"#,
    )
    .unwrap();
    assert_eq!((b.queries.len(), b.timeout_ms), (1, Some(1000)));
    assert!(
        BatchQueryRequest::parse(br#"{"queries":[{"vector":[0.1]}]}"#)
            .unwrap_err()
            .message
            .contains("queries[0].tableName")
    );
    assert!(BatchQueryRequest::parse(br#"{"queries":[]}"#).is_err());

    assert_eq!(
        StatsRequest::parse(br#"{"tableName":"test"}"#)
            .unwrap()
            .table_name,
        "test"
    );
    assert!(StatsRequest::parse(b"{}").is_err());
    assert_eq!(
        peek_table_name(br#"{"tableName":" test ","vector":[]}"#).as_deref(),
        Some("test")
    );
    assert_eq!(peek_table_name(b"nope"), None);
}
