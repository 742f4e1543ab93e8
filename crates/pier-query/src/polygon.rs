//! Polygons of the `in_polygon` and `in_query_polygon` functions: reading them from a
//! document's DOUBLE_ARRAY or from a kvpairs value, and testing whether a point lies in one.
//!
//! Coordinates are plain `(x, y)` pairs on a plane, as the functions' documentation describes
//! them (x first: longitude for geographic data); no projection is applied.

/// Most polygons an `in_polygon` field may hold in its multi-polygon layout; a document with
/// more is skipped (the function gives 0), as the cloud documents.
pub const MAX_DOC_POLYGONS: usize = 50;

/// Fewest vertices of a polygon written in a query.
pub const MIN_VERTICES: usize = 3;

/// A polygon: its vertices in order (clockwise or counter-clockwise), not repeated at the end.
pub type Polygon = Vec<(f64, f64)>;

/// The 1-based index of the first of `polygons` that contains `point`, or 0 when none does.
pub fn first_containing(polygons: &[Polygon], point: (f64, f64)) -> i64 {
    polygons
        .iter()
        .position(|p| contains(p, point))
        .map_or(0, |i| i as i64 + 1)
}

/// Whether `point` lies inside `polygon` or on its boundary (design choice: the cloud's
/// documentation does not say; a point on an edge counts as inside, so that adjacent delivery
/// areas leave no gap). Even-odd rule by ray casting; a polygon of fewer than three vertices
/// contains only points on its edges.
pub fn contains(polygon: &[(f64, f64)], (x, y): (f64, f64)) -> bool {
    if polygon.is_empty() || !x.is_finite() || !y.is_finite() {
        return false;
    }
    let mut inside = false;
    let mut j = polygon.len() - 1;
    for i in 0..polygon.len() {
        let (xi, yi) = polygon[i];
        let (xj, yj) = polygon[j];
        if on_segment((xi, yi), (xj, yj), (x, y)) {
            return true;
        }
        if (yi > y) != (yj > y) {
            let cross_x = xi + (y - yi) * (xj - xi) / (yj - yi);
            if x < cross_x {
                inside = !inside;
            }
        }
        j = i;
    }
    inside
}

/// Whether `p` lies on the segment `a`–`b` (exactly, up to the rounding of one product).
fn on_segment(a: (f64, f64), b: (f64, f64), p: (f64, f64)) -> bool {
    let cross = (b.0 - a.0) * (p.1 - a.1) - (b.1 - a.1) * (p.0 - a.0);
    let scale = (b.0 - a.0).abs().max((b.1 - a.1).abs()).max(1.0);
    cross.abs() <= f64::EPSILON * scale * 4.0
        && p.0 >= a.0.min(b.0)
        && p.0 <= a.0.max(b.0)
        && p.1 >= a.1.min(b.1)
        && p.1 <= a.1.max(b.1)
}

/// The polygons a document's `in_polygon` field holds: with `multi`, `[N, n1..nN, x, y, ...]`
/// (N polygons of n1..nN vertices), else `[x, y, ...]` (one polygon). None for data the
/// documentation says gives 0: no coordinates, an odd number of them, more than
/// [`MAX_DOC_POLYGONS`] polygons, or counts that do not add up.
pub fn doc_polygons(values: &[f64], multi: bool) -> Option<Vec<Polygon>> {
    let pairs = |coords: &[f64]| -> Option<Polygon> {
        if coords.is_empty() || !coords.len().is_multiple_of(2) {
            return None;
        }
        Some(coords.chunks_exact(2).map(|c| (c[0], c[1])).collect())
    };
    if !multi {
        return pairs(values).map(|p| vec![p]);
    }
    let (&n, rest) = values.split_first()?;
    let n = whole(n).filter(|n| (1..=MAX_DOC_POLYGONS).contains(n))?;
    let counts = rest.get(..n)?;
    let mut coords = &rest[n..];
    let mut polygons = Vec::with_capacity(n);
    for &count in counts {
        let take = whole(count)?.checked_mul(2)?;
        let (this, next) = (coords.get(..take)?, &coords[take..]);
        polygons.push(pairs(this)?);
        coords = next;
    }
    coords.is_empty().then_some(polygons)
}

/// `v` as a count, if it is a non-negative whole number.
fn whole(v: f64) -> Option<usize> {
    (v >= 0.0 && v.fract() == 0.0 && v <= u32::MAX as f64).then_some(v as usize)
}

/// Reads the polygons of an `in_query_polygon` kvpairs value: `x1,y1,x2,y2,...`, polygons
/// separated by `;`. Err says what is wrong.
pub fn parse_query_polygons(text: &str) -> Result<Vec<Polygon>, String> {
    let mut polygons = Vec::new();
    for (i, part) in text.split(';').enumerate() {
        let numbers = part
            .split(',')
            .map(|n| n.trim().parse::<f64>().ok().filter(|f| f.is_finite()))
            .collect::<Option<Vec<f64>>>()
            .ok_or_else(|| format!("polygon {} is not a list of numbers x1,y1,x2,y2,...", i + 1))?;
        if !numbers.len().is_multiple_of(2) {
            return Err(format!(
                "polygon {} has an odd number of coordinates ({}): write x,y pairs",
                i + 1,
                numbers.len()
            ));
        }
        if numbers.len() < 2 * MIN_VERTICES {
            return Err(format!(
                "polygon {} has {} vertices; a polygon needs at least {MIN_VERTICES}",
                i + 1,
                numbers.len() / 2
            ));
        }
        polygons.push(numbers.chunks_exact(2).map(|c| (c[0], c[1])).collect());
    }
    Ok(polygons)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SQUARE: [(f64, f64); 4] = [(0.0, 0.0), (10.0, 0.0), (10.0, 10.0), (0.0, 10.0)];

    #[test]
    fn inside_outside_and_boundary() {
        assert!(contains(&SQUARE, (5.0, 5.0)));
        assert!(!contains(&SQUARE, (15.0, 5.0)));
        assert!(!contains(&SQUARE, (-0.1, 5.0)));
        // Edges and vertices count as inside.
        assert!(contains(&SQUARE, (10.0, 5.0)));
        assert!(contains(&SQUARE, (0.0, 0.0)));
        assert!(contains(&SQUARE, (5.0, 10.0)));
        assert!(!contains(&SQUARE, (5.0, f64::NAN)));
        // A concave "L": the notch is outside.
        let l = [
            (0.0, 0.0),
            (4.0, 0.0),
            (4.0, 1.0),
            (1.0, 1.0),
            (1.0, 4.0),
            (0.0, 4.0),
        ];
        assert!(contains(&l, (0.5, 3.0)));
        assert!(contains(&l, (3.0, 0.5)));
        assert!(!contains(&l, (3.0, 3.0)));
        // Counter-clockwise order gives the same answers.
        let mut ccw = SQUARE.to_vec();
        ccw.reverse();
        assert!(contains(&ccw, (5.0, 5.0)) && !contains(&ccw, (11.0, 5.0)));
    }

    #[test]
    fn first_containing_polygon_is_one_based() {
        let far: Polygon = SQUARE.iter().map(|(x, y)| (x + 100.0, *y)).collect();
        let polygons = vec![far, SQUARE.to_vec()];
        assert_eq!(first_containing(&polygons, (5.0, 5.0)), 2);
        assert_eq!(first_containing(&polygons, (105.0, 5.0)), 1);
        assert_eq!(first_containing(&polygons, (50.0, 5.0)), 0);
    }

    #[test]
    fn document_layouts() {
        let one = [0.0, 0.0, 10.0, 0.0, 10.0, 10.0];
        assert_eq!(
            doc_polygons(&one, false),
            Some(vec![vec![(0.0, 0.0), (10.0, 0.0), (10.0, 10.0)]])
        );
        assert_eq!(doc_polygons(&[], false), None);
        assert_eq!(doc_polygons(&[1.0, 2.0, 3.0], false), None);
        // Two polygons of 3 and 4 vertices.
        let mut multi = vec![2.0, 3.0, 4.0];
        multi.extend([0.0, 0.0, 1.0, 0.0, 0.0, 1.0]);
        multi.extend([5.0, 5.0, 6.0, 5.0, 6.0, 6.0, 5.0, 6.0]);
        let got = doc_polygons(&multi, true).unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(got[1], vec![(5.0, 5.0), (6.0, 5.0), (6.0, 6.0), (5.0, 6.0)]);
        // Counts that do not add up, a fractional or too large N.
        assert_eq!(doc_polygons(&multi[..multi.len() - 2], true), None);
        assert_eq!(doc_polygons(&[1.5, 3.0, 0.0, 0.0], true), None);
        let mut many = vec![51.0];
        many.extend(std::iter::repeat_n(0.0, 51));
        assert_eq!(doc_polygons(&many, true), None);
        assert_eq!(doc_polygons(&[], true), None);
    }

    #[test]
    fn query_polygons() {
        let p = parse_query_polygons("0,0,10,0,10,10; 20,20,30,20,30,30,20,30").unwrap();
        assert_eq!(p.len(), 2);
        assert_eq!(p[1].len(), 4);
        assert!(
            parse_query_polygons("0,0,1,0,1")
                .unwrap_err()
                .contains("odd number")
        );
        assert!(
            parse_query_polygons("0,0,1,1")
                .unwrap_err()
                .contains("at least 3")
        );
        assert!(
            parse_query_polygons("0,0,1,0,1,1;a,b")
                .unwrap_err()
                .contains("polygon 2 is not")
        );
        assert!(parse_query_polygons("").is_err());
    }
}
