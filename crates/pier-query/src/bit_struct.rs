//! `bit_struct(doc_field, "struct_definition", "operation", ...)`: each 64-bit value of an
//! INT_ARRAY field is cut into bit ranges (`"0-31,32-63"`, bit 0 the most significant), the
//! operations (`equal`, `overlap`, `and`) are computed over the parts, and the function gives
//! the 0-based index of the first value for which the last operation holds, or -1.

/// Most operations one call may define (the cloud's limit).
pub const MAX_OPERATIONS: usize = 5;

/// A parsed struct definition and its operations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BitStruct {
    /// Each part's first and last bit, numbered from the most significant (0) to 63.
    pub parts: Vec<(u32, u32)>,
    /// The operations, numbered after the parts.
    pub ops: Vec<BitOp>,
}

/// One operation of a `bit_struct` call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BitOp {
    /// `equal,$m,$n`: the two values are equal.
    Equal([Operand; 2]),
    /// `overlap,$m,$n,$k,$p`: the closed ranges `[m, n]` and `[k, p]` share a value.
    Overlap([Operand; 4]),
    /// `and,$m,$n,...`: every value is non-zero (true).
    And(Vec<Operand>),
}

/// An operand: `$i` (a part, or an earlier operation's result as 1/0) or an integer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operand {
    /// `$i`, stored 0-based.
    Slot(usize),
    /// An integer constant.
    Const(i64),
}

/// Parses the struct definition: `start-end` bit ranges separated by `,`.
pub fn parse_definition(text: &str) -> Result<Vec<(u32, u32)>, String> {
    text.split(',')
        .map(|part| {
            let bad = || {
                format!(
                    "bit_struct(): the part '{}' of \"{text}\" is not start-end with 0 <= start <= end <= 63, as in \"0-31,32-63\"",
                    part.trim()
                )
            };
            let (a, b) = part.split_once('-').ok_or_else(bad)?;
            let (a, b) = (
                a.trim().parse::<u32>().map_err(|_| bad())?,
                b.trim().parse::<u32>().map_err(|_| bad())?,
            );
            if a > b || b > 63 {
                return Err(bad());
            }
            Ok((a, b))
        })
        .collect()
}

/// Parses operation `text`, whose own number (1-based) is `number`: its `$i` operands must
/// name parts or earlier operations.
pub fn parse_operation(text: &str, number: usize) -> Result<BitOp, String> {
    let mut items = text.split(',').map(str::trim);
    let name = items.next().unwrap_or_default();
    let operands = items
        .map(|item| {
            if let Some(i) = item.strip_prefix('$') {
                match i.parse::<usize>() {
                    Ok(i) if (1..number).contains(&i) => Ok(Operand::Slot(i - 1)),
                    _ => Err(format!(
                        "bit_struct(): operation ${number} \"{text}\" refers to {item}; it may refer to $1..${} (the parts and earlier operations)",
                        number - 1
                    )),
                }
            } else {
                item.parse::<i64>().map(Operand::Const).map_err(|_| {
                    format!(
                        "bit_struct(): operation ${number} \"{text}\": '{item}' is neither $i nor an integer"
                    )
                })
            }
        })
        .collect::<Result<Vec<_>, _>>()?;
    let arity = |n: usize| {
        format!(
            "bit_struct(): operation ${number} \"{text}\": {name} takes {n} operands, found {}",
            operands.len()
        )
    };
    match name {
        "equal" => Ok(BitOp::Equal(
            operands.clone().try_into().map_err(|_| arity(2))?,
        )),
        "overlap" => Ok(BitOp::Overlap(
            operands.clone().try_into().map_err(|_| arity(4))?,
        )),
        "and" if !operands.is_empty() => Ok(BitOp::And(operands)),
        "and" => Err(format!(
            "bit_struct(): operation ${number} \"{text}\": and takes one or more operands"
        )),
        _ => Err(format!(
            "bit_struct(): operation ${number} \"{text}\" is not one of \"equal,$m,$n\", \"overlap,$m,$n,$k,$p\", \"and,$m,$n,...\""
        )),
    }
}

impl BitStruct {
    /// The 0-based index of the first of `values` for which the last operation holds, or -1.
    pub fn find(&self, values: impl IntoIterator<Item = i64>) -> i64 {
        let mut slots = Vec::with_capacity(self.parts.len() + self.ops.len());
        for (i, value) in values.into_iter().enumerate() {
            slots.clear();
            slots.extend(self.parts.iter().map(|&(a, b)| part(value, a, b)));
            for op in &self.ops {
                let get = |o: &Operand| match o {
                    Operand::Slot(s) => slots[*s],
                    Operand::Const(c) => *c,
                };
                let holds = match op {
                    BitOp::Equal([m, n]) => get(m) == get(n),
                    BitOp::Overlap([m, n, k, p]) => get(m).max(get(k)) <= get(n).min(get(p)),
                    BitOp::And(items) => items.iter().all(|o| get(o) != 0),
                };
                slots.push(holds as i64);
            }
            if slots.last() == Some(&1) && !self.ops.is_empty() {
                return i as i64;
            }
        }
        -1
    }
}

/// Bits `a..=b` of `value` (bit 0 the most significant) as an unsigned number.
fn part(value: i64, a: u32, b: u32) -> i64 {
    let width = b - a + 1;
    let shifted = (value as u64) >> (63 - b);
    let mask = if width == 64 {
        u64::MAX
    } else {
        (1u64 << width) - 1
    };
    (shifted & mask) as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(def: &str, ops: &[&str]) -> BitStruct {
        let parts = parse_definition(def).unwrap();
        let ops = ops
            .iter()
            .enumerate()
            .map(|(i, op)| parse_operation(op, parts.len() + i + 1).unwrap())
            .collect();
        BitStruct { parts, ops }
    }

    /// Opening hours as the documentation's example packs them: start in the high 32 bits.
    fn hours(start: i64, end: i64) -> i64 {
        (start << 32) | end
    }

    #[test]
    fn parts_count_bits_from_the_most_significant() {
        assert_eq!(part(hours(840, 930), 0, 31), 840);
        assert_eq!(part(hours(840, 930), 32, 63), 930);
        assert_eq!(part(-1, 0, 63), -1);
        assert_eq!(part(i64::MIN, 0, 0), 1);
        assert_eq!(part(0b1011, 60, 63), 0b1011);
        assert_eq!(part(0b1011, 62, 62), 1);
    }

    #[test]
    fn overlap_finds_the_first_open_period() {
        let f = call("0-31,32-63", &["overlap,$1,$2,840,930"]);
        // Morning only, then afternoon: the second value overlaps 14:00-15:30.
        assert_eq!(f.find([hours(480, 720), hours(780, 1320)]), 1);
        assert_eq!(f.find([hours(480, 720)]), -1);
        // Touching counts (closed ranges).
        assert_eq!(f.find([hours(600, 840)]), 0);
        assert_eq!(f.find([]), -1);
    }

    #[test]
    fn operations_chain_on_earlier_results() {
        // $1 day, $2 meal, $3 capacity; $4 = day is 3, $5 = meal is 2, $6 = both.
        let f = call(
            "0-15,16-31,32-63",
            &["equal,$1,3", "equal,$2,2", "and,$4,$5"],
        );
        let v = |day: i64, meal: i64, cap: i64| (day << 48) | (meal << 32) | cap;
        assert_eq!(f.find([v(3, 1, 10), v(2, 2, 10), v(3, 2, 10)]), 2);
        assert_eq!(f.find([v(3, 1, 10)]), -1);
    }

    #[test]
    fn bad_definitions_and_operations_say_what_to_write() {
        for bad in ["", "0-64", "5-3", "a-b", "0:31"] {
            assert!(parse_definition(bad).is_err(), "{bad}");
        }
        let e = parse_operation("equal,$1,$3", 3).unwrap_err();
        assert!(e.contains("refers to $3") && e.contains("$1..$2"), "{e}");
        assert!(
            parse_operation("equal,$1", 3)
                .unwrap_err()
                .contains("takes 2 operands")
        );
        assert!(
            parse_operation("overlap,$1,$2,3", 3)
                .unwrap_err()
                .contains("takes 4")
        );
        assert!(
            parse_operation("xor,$1,$2", 3)
                .unwrap_err()
                .contains("is not one of")
        );
        assert!(
            parse_operation("and", 3)
                .unwrap_err()
                .contains("one or more")
        );
        assert!(
            parse_operation("equal,$1,x", 3)
                .unwrap_err()
                .contains("'x'")
        );
    }
}
