//! Lazy combinations and permutations, in the order Python's itertools
//! gives them (the last position varies fastest), holding only the current index vector.

use serde_json::{Map, Value};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Combinations,
    CombinationsWithReplacement,
    Permutations,
    PermutationsWithReplacement,
}

/// Selections of `length` values out of a list; each item is `{"values": [...]}`.
pub struct Choices<'a> {
    of: &'a [Value],
    kind: Kind,
    next: Option<Vec<usize>>,
}

impl<'a> Choices<'a> {
    pub fn combinations(of: &'a [Value], length: u32, replacement: bool) -> Self {
        let kind = if replacement {
            Kind::CombinationsWithReplacement
        } else {
            Kind::Combinations
        };
        Self::new(of, length, kind)
    }

    pub fn permutations(of: &'a [Value], length: u32, replacement: bool) -> Self {
        let kind = if replacement {
            Kind::PermutationsWithReplacement
        } else {
            Kind::Permutations
        };
        Self::new(of, length, kind)
    }

    fn new(of: &'a [Value], length: u32, kind: Kind) -> Self {
        let k = length as usize;
        let n = of.len();
        let first = match kind {
            _ if k == 0 => None,
            Kind::Combinations | Kind::Permutations if k > n => None,
            _ if n == 0 => None,
            Kind::Combinations | Kind::Permutations => Some((0..k).collect()),
            Kind::CombinationsWithReplacement | Kind::PermutationsWithReplacement => {
                Some(vec![0; k])
            }
        };
        Choices {
            of,
            kind,
            next: first,
        }
    }

    fn advance(&self, idx: &mut [usize]) -> bool {
        let n = self.of.len();
        let k = idx.len();
        match self.kind {
            Kind::PermutationsWithReplacement => {
                for pos in (0..k).rev() {
                    idx[pos] += 1;
                    if idx[pos] < n {
                        return true;
                    }
                    idx[pos] = 0;
                }
                false
            }
            Kind::Combinations => {
                // Rightmost position that can still grow: idx[pos] < n - k + pos.
                for pos in (0..k).rev() {
                    if idx[pos] < n - k + pos {
                        idx[pos] += 1;
                        for j in pos + 1..k {
                            idx[j] = idx[j - 1] + 1;
                        }
                        return true;
                    }
                }
                false
            }
            Kind::CombinationsWithReplacement => {
                for pos in (0..k).rev() {
                    if idx[pos] < n - 1 {
                        let v = idx[pos] + 1;
                        for slot in &mut idx[pos..] {
                            *slot = v;
                        }
                        return true;
                    }
                }
                false
            }
            Kind::Permutations => {
                // Lexicographic k-permutations: raise the rightmost position that has a larger
                // unused value, then fill the rest with the smallest unused values.
                for pos in (0..k).rev() {
                    let used = |v: usize, upto: usize| idx[..upto].contains(&v);
                    if let Some(v) = (idx[pos] + 1..n).find(|&v| !used(v, pos)) {
                        idx[pos] = v;
                        let mut fill = pos + 1;
                        let mut candidate = 0;
                        while fill < k {
                            if !idx[..fill].contains(&candidate) {
                                idx[fill] = candidate;
                                fill += 1;
                            }
                            candidate += 1;
                        }
                        return true;
                    }
                }
                false
            }
        }
    }
}

impl Iterator for Choices<'_> {
    type Item = Value;

    fn next(&mut self) -> Option<Value> {
        let mut idx = self.next.take()?;
        let values: Vec<Value> = idx.iter().map(|&i| self.of[i].clone()).collect();
        if self.advance(&mut idx) {
            self.next = Some(idx);
        }
        let mut item = Map::new();
        item.insert("values".into(), Value::Array(values));
        Some(Value::Object(item))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(c: Choices<'_>) -> Vec<String> {
        c.map(|v| {
            v["values"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_str().unwrap())
                .collect::<String>()
        })
        .collect()
    }

    fn abc() -> Vec<Value> {
        vec![json!("a"), json!("b"), json!("c")]
    }

    #[test]
    fn combinations_match_itertools() {
        let of = abc();
        assert_eq!(
            run(Choices::combinations(&of, 2, false)),
            ["ab", "ac", "bc"]
        );
        assert_eq!(
            run(Choices::combinations(&of, 2, true)),
            ["aa", "ab", "ac", "bb", "bc", "cc"]
        );
        assert!(run(Choices::combinations(&of, 4, false)).is_empty());
    }

    #[test]
    fn permutations_match_itertools() {
        let of = abc();
        assert_eq!(
            run(Choices::permutations(&of, 2, false)),
            ["ab", "ac", "ba", "bc", "ca", "cb"]
        );
        assert_eq!(run(Choices::permutations(&of, 3, false)).len(), 6);
        assert_eq!(run(Choices::permutations(&of, 2, true)).len(), 9);
        let four: Vec<Value> = (0..5).map(|i| json!(i.to_string())).collect();
        // 5P3 = 60, all distinct.
        let mut p = run(Choices::permutations(&four, 3, false));
        assert_eq!(p.len(), 60);
        p.sort();
        p.dedup();
        assert_eq!(p.len(), 60);
    }
}
