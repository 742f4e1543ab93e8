//! Fuzz-ish robustness: every parser gets thousands of mangled inputs — byte flips, cuts,
//! splices, JSON values swapped for hostile ones, random filter token soup — and must answer
//! with `Ok` or a `VseError`, never a panic. Deterministic (fixed seeds), a few seconds in debug.

use pier_vse::body::decode_body;
use pier_vse::fusion::{Ranked, fuse, merge_multi_query};
use pier_vse::query::MergeMode;
use pier_vse::*;
use serde_json::{Value, json};

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn fixtures() -> Vec<Vec<u8>> {
    let dir = format!("{}/tests/fixtures", env!("CARGO_MANIFEST_DIR"));
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "http") {
            let raw = std::fs::read(&p).unwrap();
            if let Some(i) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
                out.push(raw[i + 4..].to_vec());
            }
        }
    }
    out.push(br#"{"tableName":"test","text":{"queryString":"a:'b'","queryParams":{"default_op":"OR"}},"rank":{"rrf":{}},"groupKeys":["cate_id"],"aggFuncs":[{"func":"sum","args":["cate_id"],"name":"s"}],"orderBy":[{"field":"s"}],"ids":["1"],"queries":[{"vector":[1,2,3],"namespace":"a"}]}"#.to_vec());
    out
}

fn hostile(rng: &mut Rng) -> Value {
    match rng.below(22) {
        0 => Value::Null,
        1 => json!(true),
        2 => json!(-1),
        3 => json!(0),
        4 => json!(u64::MAX),
        5 => json!(i64::MIN),
        6 => json!(1e308),
        7 => json!(-0.0),
        8 => json!(""),
        9 => json!("nan"),
        10 => json!("1,2,3"),
        11 => json!("((((("),
        12 => json!([]),
        13 => json!([null, {}, [1, [2, [3]]]]),
        14 => json!({}),
        15 => json!({"indices": [3, 1], "values": [1], "count": [9]}),
        16 => json!("\u{1D}\u{0}中文\"\\"),
        17 => json!([1e39, -1e39, 0.5]),
        18 => json!("a=1 AND (b=\"x\" OR notin(c, \"1|2\"))"),
        19 => Value::String("x".repeat(rng.below(300))),
        20 => json!(["id", "vector", "nope", 7]),
        _ => json!(rng.next() as f64 / 7.0),
    }
}

fn mutate_value(v: &mut Value, rng: &mut Rng, depth: usize) {
    if depth > 6 {
        return;
    }
    match v {
        Value::Object(m) => {
            let keys: Vec<String> = m.keys().cloned().collect();
            if keys.is_empty() || rng.below(8) == 0 {
                *v = hostile(rng);
                return;
            }
            let k = &keys[rng.below(keys.len())];
            match rng.below(4) {
                0 => {
                    m.remove(k);
                }
                1 => {
                    m.insert(k.clone(), hostile(rng));
                }
                _ => mutate_value(m.get_mut(k).unwrap(), rng, depth + 1),
            }
        }
        Value::Array(a) if !a.is_empty() && rng.below(4) != 0 => {
            let i = rng.below(a.len());
            if rng.below(3) == 0 {
                a.push(a[i].clone());
            } else {
                mutate_value(&mut a[i], rng, depth + 1);
            }
        }
        _ => *v = hostile(rng),
    }
}

fn mutate_bytes(b: &[u8], rng: &mut Rng) -> Vec<u8> {
    let mut out = b.to_vec();
    for _ in 0..=rng.below(4) {
        if out.is_empty() {
            break;
        }
        let i = rng.below(out.len());
        match rng.below(5) {
            0 => out[i] = rng.next() as u8,
            1 => out.truncate(i),
            2 => {
                let j = rng.below(out.len());
                let (a, b) = (i.min(j), i.max(j));
                let piece = out[a..b].to_vec();
                out.splice(i..i, piece);
            }
            3 => {
                out.remove(i);
            }
            _ => out.insert(i, b"\"[]{},:\\0-e9"[rng.below(12)]),
        }
    }
    out
}

fn schemas() -> Vec<VectorTableSchema> {
    let dir = format!(
        "{}/tests/fixtures/vector_create_table.http",
        env!("CARGO_MANIFEST_DIR")
    );
    let raw = std::fs::read(dir).unwrap();
    let i = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    vec![
        VectorTableSchema::from_json_str(std::str::from_utf8(&raw[i + 4..]).unwrap()).unwrap(),
        VectorTableSchema::from_json(&json!({"name": "test", "primaryKey": "id",
            "fieldSchema": {"id": "STRING", "vec": "STRING", "t": "TEXT", "n": "UINT8", "m": "MULTI_INT8"},
            "vectorIndex": [{"indexName": "v", "vectorField": "vec", "dimension": "2", "embeddingDelimiter": " "}]}))
        .unwrap(),
    ]
}

fn run_all(body: &[u8], schemas: &[VectorTableSchema]) {
    for s in schemas {
        for v in [Validation::Strict, Validation::Lenient] {
            let _ = parse_push(body, s, Some("id"), v);
        }
        if let Ok(mut q) = QueryRequest::parse(body) {
            let _ = q.resolve(s);
            let _ = q.vectors().count();
            if let Some(sp) = &q.sparse {
                let _ = sp.vectors().count();
            }
        }
        if let Ok(mut q) = QueryRequest::parse_inference(body) {
            let _ = q.resolve(s);
        }
        if let Ok(mut q) = MultiQueryRequest::parse(body) {
            let _ = q.resolve(s);
        }
        if let Ok(mut q) = FetchRequest::parse(body) {
            let _ = q.resolve(s);
        }
        if let Ok(mut q) = SearchRequest::parse(body) {
            let _ = q.resolve(s);
        }
        if let Ok(mut q) = AggregateRequest::parse(body) {
            let _ = q.resolve(s);
        }
    }
    let _ = BatchQueryRequest::parse(body);
    let _ = StatsRequest::parse(body);
    let _ = pier_vse::query::peek_table_name(body);
    let _ = decode_body(Some("deflate"), None, body, 1 << 20);
    let _ = decode_body(Some("gzip"), None, body, 1 << 20);
    if let Ok(s) = std::str::from_utf8(body) {
        let _ = VectorTableSchema::from_json_str(s);
        if let Ok(mut f) = Filter::parse(s) {
            for sc in schemas {
                let _ = f.resolve(sc);
            }
        }
        let _ = parse_sort(s);
    }
}

#[test]
fn mangled_bytes_never_panic() {
    let seeds = fixtures();
    let schemas = schemas();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for seed in &seeds {
        run_all(seed, &schemas);
        for _ in 0..150 {
            run_all(&mutate_bytes(seed, &mut rng), &schemas);
        }
    }
}

#[test]
fn mangled_json_never_panics() {
    let seeds: Vec<Value> = fixtures()
        .iter()
        .filter_map(|b| serde_json::from_slice(b).ok())
        .collect();
    let schemas = schemas();
    let mut rng = Rng(0xD1B5_4A32_D192_ED03);
    for seed in &seeds {
        for _ in 0..250 {
            let mut v = seed.clone();
            for _ in 0..=rng.below(3) {
                mutate_value(&mut v, &mut rng, 0);
            }
            run_all(v.to_string().as_bytes(), &schemas);
        }
    }
}

#[test]
fn random_schemas_never_panic() {
    let base: Value = serde_json::from_str(&schemas()[0].to_json().to_string()).unwrap();
    let mut rng = Rng(0x1234_5678_9ABC_DEF1);
    for _ in 0..3000 {
        let mut v = base.clone();
        for _ in 0..=rng.below(3) {
            mutate_value(&mut v, &mut rng, 0);
        }
        if let Ok(s) = VectorTableSchema::from_json(&v) {
            // Whatever is accepted writes back to something accepted again, identically.
            assert_eq!(VectorTableSchema::from_json(&s.to_json()).as_ref(), Ok(&s));
            let _ = s.typed_pk("18446744073709551615");
        }
    }
}

#[test]
fn filter_token_soup_never_panics() {
    const TOKENS: &[&str] = &[
        "a",
        "cate_id",
        "ns",
        "tags",
        "vector",
        "title",
        "1",
        "-2.5",
        "1e999",
        "\"x\"",
        "\"a|b\"",
        "=",
        "!=",
        "<",
        "<=",
        ">",
        ">=",
        "+",
        "-",
        "*",
        "/",
        "&",
        "^",
        "|",
        "(",
        ")",
        ",",
        "AND",
        "OR",
        "NOT",
        "in",
        "notin",
        "f",
        " ",
        "\"",
        "\\",
        "'",
        "中",
        ";",
        "RANK",
        "9223372036854775808",
    ];
    let schemas = schemas();
    let mut rng = Rng(0xCAFE_F00D_DEAD_BEEF);
    for _ in 0..20_000 {
        let n = 1 + rng.below(14);
        let s: String = (0..n)
            .map(|_| TOKENS[rng.below(TOKENS.len())])
            .collect::<Vec<_>>()
            .join(if rng.below(2) == 0 { "" } else { " " });
        if let Ok(mut f) = Filter::parse(&s) {
            for sc in &schemas {
                let _ = f.clone().resolve(sc);
            }
            let _ = f.resolve(&schemas[0]);
        }
        let _ = parse_sort(&s);
    }
    // Deep inputs within the size limit are refused, not a stack overflow.
    for deep in [
        "NOT ".repeat(10_000) + "a=1",
        "(".repeat(60_000),
        "x=".to_string() + &"-".repeat(60_000) + "1",
        "f(".repeat(30_000),
        "a".to_string() + &"+a".repeat(30_000) + "=1",
        "a=1".to_string() + &" AND a=1".repeat(7_000),
        "NOT ".repeat(100_000) + "a=1",
    ] {
        let r = Filter::parse(&deep);
        assert!(r.is_err() || deep.starts_with("a=1"), "{}", &deep[..20]);
        let _ = parse_sort(&deep);
    }
}

#[test]
fn builders_take_any_numbers() {
    let mut hit = Hit::new(json!(1), f64::NAN);
    hit.vector = Some(vec![f32::INFINITY, 0.1]);
    let body = query_response(&[hit], f64::INFINITY);
    assert_eq!(body["result"][0]["score"], Value::Null);
    assert_eq!(body["totalTime"], json!(0.0));
    let r = |pk: &str, score: f64| Ranked {
        pk: pk.into(),
        score,
    };
    let out = fuse(
        &[r("a", f64::NAN), r("a", 1.0)],
        &[r("b", f64::INFINITY)],
        DistanceType::SquaredEuclidean,
        1.0,
        1.0,
        Rank::WeightedSum,
        Order::Desc,
    );
    assert_eq!(out.len(), 2);
    let _ = merge_multi_query(
        &[(vec![r("a", f64::NAN)], f64::NAN)],
        MergeMode::Max,
        Order::Asc,
    );
    let _ = check_dimension(&schemas()[0], "vec_idx", &[], 0);
}
