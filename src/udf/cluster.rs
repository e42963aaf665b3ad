//! `dedup_cluster(a, b, score, id_a, id_b)`: registrations that are one pupil, from the matched
//! pairs, without chaining strangers together.
//!
//! Plain connected components let one weak edge join two clusters, and a chain of such edges
//! join twins (one twin's ID missing) with each other. Here the edges are taken strongest first
//! (ties by name, so the result does not depend on their order), and
//! - a cluster never holds two different valid ID numbers (`id_a`/`id_b`: the registration's ID
//!   when it passes its check character, else NULL): an edge that would make one is left out;
//! - two clusters of two or more registrations each are joined only by a strong edge
//!   (score ≥ [`STRONG`]) or by a second edge between them: one weak link is not enough. A single
//!   registration joins a cluster by one edge (it has no second registration to link by).
//!
//! Returns one `{node, root}` for every node, `root` being the smallest node of its cluster.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, Float64Array, ListArray, StringArray, StringBuilder, StructArray};
use arrow::datatypes::{DataType, Field, Fields};
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::{Accumulator, AggregateUDF, Volatility, create_udaf};
use datafusion::scalar::ScalarValue;

use super::{list_of, str_arg};

/// A match weight (log2 odds) above which one edge may join two clusters: odds of 1000 to 1.
pub const STRONG: f64 = 10.0;

/// One matched pair: its two nodes, its score, and each node's valid ID number.
#[derive(Debug, Clone)]
struct Edge {
    a: String,
    b: String,
    score: f64,
    id_a: Option<String>,
    id_b: Option<String>,
}

#[derive(Debug, Default, Clone)]
pub struct Edges {
    edges: Vec<Edge>,
    bytes: usize,
}

fn pair_fields() -> Fields {
    Fields::from(vec![
        Field::new("node", DataType::Utf8, false),
        Field::new("root", DataType::Utf8, false),
    ])
}

/// The root of `x` in a union-find forest, halving the path on the way.
pub fn find(parent: &mut [usize], mut x: usize) -> usize {
    while parent[x] != x {
        parent[x] = parent[parent[x]];
        x = parent[x];
    }
    x
}

impl Edges {
    pub fn push(&mut self, a: &str, b: &str, score: f64, id_a: Option<&str>, id_b: Option<&str>) {
        self.bytes += a.len() + b.len() + 96;
        self.edges.push(Edge {
            a: a.to_string(),
            b: b.to_string(),
            score,
            id_a: id_a.map(str::to_string),
            id_b: id_b.map(str::to_string),
        });
    }

    /// Every node with the smallest node of its cluster, sorted by node.
    pub fn resolve(&self) -> Vec<(String, String)> {
        let mut names: Vec<&str> = self.edges.iter().flat_map(|e| [e.a.as_str(), e.b.as_str()]).collect();
        names.sort_unstable();
        names.dedup();
        let index: HashMap<&str, usize> = names.iter().enumerate().map(|(i, n)| (*n, i)).collect();
        let mut ids: Vec<BTreeSet<&str>> = vec![BTreeSet::new(); names.len()];
        for e in &self.edges {
            for (n, id) in [(&e.a, &e.id_a), (&e.b, &e.id_b)] {
                if let Some(id) = id {
                    ids[index[n.as_str()]].insert(id);
                }
            }
        }
        let mut order: Vec<usize> = (0..self.edges.len()).collect();
        order.sort_by(|&x, &y| {
            let (ex, ey) = (&self.edges[x], &self.edges[y]);
            ey.score
                .total_cmp(&ex.score)
                .then_with(|| (&ex.a, &ex.b).cmp(&(&ey.a, &ey.b)))
        });
        let mut parent: Vec<usize> = (0..names.len()).collect();
        let mut size = vec![1usize; names.len()];
        let mut weak: HashMap<(usize, usize), u32> = HashMap::new();
        for i in order {
            let Edge { a, b, score, .. } = &self.edges[i];
            let (ra, rb) = (
                find(&mut parent, index[a.as_str()]),
                find(&mut parent, index[b.as_str()]),
            );
            if ra == rb {
                continue;
            }
            if !ids[ra].is_empty() && !ids[rb].is_empty() && ids[ra] != ids[rb] {
                continue;
            }
            if *score < STRONG && size[ra] > 1 && size[rb] > 1 {
                let seen = weak.entry((ra.min(rb), ra.max(rb))).or_default();
                *seen += 1;
                if *seen < 2 {
                    continue;
                }
            }
            // The root is the smaller index, which is the smaller name: a cluster is named by
            // its minimum whatever the order of merges.
            let (root, child) = (ra.min(rb), ra.max(rb));
            parent[child] = root;
            size[root] += size[child];
            let moved = std::mem::take(&mut ids[child]);
            ids[root].extend(moved);
            // Weak links counted against the child now count against the root.
            let stale: Vec<(usize, usize)> = weak
                .keys()
                .filter(|(x, y)| *x == child || *y == child)
                .copied()
                .collect();
            for (x, y) in stale {
                let n = weak.remove(&(x, y)).unwrap_or(0);
                let other = if x == child { y } else { x };
                if other != root {
                    *weak.entry((root.min(other), root.max(other))).or_default() += n;
                }
            }
        }
        (0..names.len())
            .map(|i| (names[i].to_string(), names[find(&mut parent, i)].to_string()))
            .collect()
    }
}

fn opt_str(a: &StringArray, i: usize) -> Option<&str> {
    a.is_valid(i).then(|| a.value(i))
}

impl Edges {
    fn add_arrays(&mut self, v: &[ArrayRef]) -> Result<()> {
        let (a, b) = (str_arg(&v[0])?, str_arg(&v[1])?);
        let score = v[2]
            .as_any()
            .downcast_ref::<Float64Array>()
            .ok_or_else(|| DataFusionError::Internal("dedup_cluster: score".into()))?;
        let (ia, ib) = (str_arg(&v[3])?, str_arg(&v[4])?);
        for i in 0..a.len() {
            if a.is_valid(i) && b.is_valid(i) {
                let s = if score.is_valid(i) { score.value(i) } else { 0.0 };
                self.push(a.value(i), b.value(i), s, opt_str(&ia, i), opt_str(&ib, i));
            }
        }
        Ok(())
    }
}

impl Accumulator for Edges {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        self.add_arrays(values)
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let lists: Vec<ListArray> = states
            .iter()
            .map(|a| {
                a.as_any()
                    .downcast_ref::<ListArray>()
                    .cloned()
                    .ok_or_else(|| DataFusionError::Internal("dedup_cluster state".into()))
            })
            .collect::<Result<_>>()?;
        for i in 0..lists[0].len() {
            if lists.iter().all(|l| l.is_valid(i)) {
                let row: Vec<ArrayRef> = lists.iter().map(|l| l.value(i)).collect();
                self.add_arrays(&row)?;
            }
        }
        Ok(())
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        let s = |f: &dyn Fn(&Edge) -> Option<&str>| -> ArrayRef {
            Arc::new(self.edges.iter().map(f).collect::<StringArray>())
        };
        let score: Float64Array = self.edges.iter().map(|e| Some(e.score)).collect();
        let utf8 = Arc::new(Field::new_list_field(DataType::Utf8, true));
        Ok(vec![
            list_of(s(&|e| Some(e.a.as_str())), utf8.clone()),
            list_of(s(&|e| Some(e.b.as_str())), utf8.clone()),
            list_of(
                Arc::new(score),
                Arc::new(Field::new_list_field(DataType::Float64, true)),
            ),
            list_of(s(&|e| e.id_a.as_deref()), utf8.clone()),
            list_of(s(&|e| e.id_b.as_deref()), utf8),
        ])
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        let (mut node, mut root) = (StringBuilder::new(), StringBuilder::new());
        for (n, r) in self.resolve() {
            node.append_value(n);
            root.append_value(r);
        }
        let st = StructArray::new(
            pair_fields(),
            vec![Arc::new(node.finish()), Arc::new(root.finish())],
            None,
        );
        Ok(list_of(
            Arc::new(st),
            Arc::new(Field::new_list_field(DataType::Struct(pair_fields()), true)),
        ))
    }

    fn size(&self) -> usize {
        std::mem::size_of::<Self>() + self.bytes
    }
}

pub fn dedup_cluster() -> AggregateUDF {
    let list = |t: DataType| DataType::List(Arc::new(Field::new_list_field(t, true)));
    create_udaf(
        "dedup_cluster",
        vec![
            DataType::Utf8,
            DataType::Utf8,
            DataType::Float64,
            DataType::Utf8,
            DataType::Utf8,
        ],
        Arc::new(list(DataType::Struct(pair_fields()))),
        Volatility::Immutable,
        Arc::new(|_| Ok(Box::<Edges>::default())),
        Arc::new(vec![
            list(DataType::Utf8),
            list(DataType::Utf8),
            list(DataType::Float64),
            list(DataType::Utf8),
            list(DataType::Utf8),
        ]),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    type TestEdge<'a> = (&'a str, &'a str, f64, Option<&'a str>, Option<&'a str>);

    fn clusters(edges: &[TestEdge]) -> Vec<(String, String)> {
        let mut e = Edges::default();
        for (a, b, s, ia, ib) in edges {
            e.push(a, b, *s, *ia, *ib);
        }
        e.resolve()
    }

    #[test]
    fn clusters_are_named_by_their_smallest_member_whatever_the_edge_order() {
        let one = clusters(&[
            ("d", "c", 20.0, None, None),
            ("c", "b", 20.0, None, None),
            ("x", "y", 20.0, None, None),
            ("b", "e", 20.0, None, None),
        ]);
        let two = clusters(&[
            ("y", "x", 20.0, None, None),
            ("e", "b", 20.0, None, None),
            ("b", "c", 20.0, None, None),
            ("c", "d", 20.0, None, None),
        ]);
        assert_eq!(one, two);
        assert_eq!(one.iter().filter(|(_, r)| r == "b").count(), 4);
    }

    /// Twin A (ID a) and twin B (ID b) both match a registration without an ID (n): the
    /// stronger edge wins and the twins stay apart.
    #[test]
    fn a_cluster_never_holds_two_valid_id_numbers() {
        let c = clusters(&[("a", "n", 12.0, Some("ID1"), None), ("b", "n", 11.0, Some("ID2"), None)]);
        let root = |x: &str| c.iter().find(|(n, _)| n == x).unwrap().1.clone();
        assert_eq!(root("a"), root("n"));
        assert_ne!(root("a"), root("b"));
    }

    #[test]
    fn one_weak_edge_does_not_join_two_clusters_but_two_do() {
        let base = [
            ("a1", "a2", 20.0, None, None),
            ("b1", "b2", 20.0, None, None),
            ("a1", "b1", 5.0, None, None),
        ];
        let c = clusters(&base);
        assert_ne!(c[0].1, c[2].1, "{c:?}");
        let mut two = base.to_vec();
        two.push(("a2", "b2", 4.0, None, None));
        let c = clusters(&two);
        assert!(c.iter().all(|(_, r)| r == "a1"), "{c:?}");
    }

    /// A weak link counted before one cluster took a new root (a0 < m1 < x1) still counts: the
    /// second weak edge joins the clusters.
    #[test]
    fn weak_links_count_across_a_change_of_root() {
        let c = clusters(&[
            ("m1", "m2", 20.0, None, None),
            ("x1", "x2", 20.0, None, None),
            ("m2", "x2", 6.0, None, None),
            ("a0", "x1", 5.5, None, None),
            ("m1", "x1", 5.0, None, None),
        ]);
        assert!(c.iter().all(|(_, r)| r == "a0"), "{c:?}");
    }
}
