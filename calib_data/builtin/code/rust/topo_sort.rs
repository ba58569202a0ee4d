//! Build-order resolution using Kahn's algorithm. Ties are broken
//! alphabetically so the output is deterministic across runs.

use std::collections::{BTreeMap, BTreeSet, BinaryHeap};
use std::cmp::Reverse;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GraphError {
    /// A dependency refers to a module that was never declared.
    UnknownDependency { module: String, missing: String },
    /// The listed modules could not be ordered because they form a cycle.
    Cycle(Vec<String>),
}

#[derive(Debug, Default)]
pub struct DepGraph {
    // module -> modules it depends on
    deps: BTreeMap<String, BTreeSet<String>>,
}

impl DepGraph {
    pub fn new() -> Self {
        Self::default()
    }

    /// Declare a module and the modules it depends on.
    pub fn add<I, S>(&mut self, module: &str, depends_on: I) -> &mut Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let entry = self.deps.entry(module.to_string()).or_default();
        entry.extend(depends_on.into_iter().map(Into::into));
        self
    }

    /// Return modules in an order where every module comes after its dependencies.
    pub fn build_order(&self) -> Result<Vec<String>, GraphError> {
        // Validate first so that errors are reported before any work is done.
        for (module, deps) in &self.deps {
            if let Some(missing) = deps.iter().find(|d| !self.deps.contains_key(*d)) {
                return Err(GraphError::UnknownDependency {
                    module: module.clone(),
                    missing: missing.clone(),
                });
            }
        }

        let mut in_degree: BTreeMap<&str, usize> =
            self.deps.iter().map(|(m, d)| (m.as_str(), d.len())).collect();

        // Reverse edges: dependency -> dependents.
        let mut dependents: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for (module, deps) in &self.deps {
            for d in deps {
                dependents.entry(d.as_str()).or_default().push(module.as_str());
            }
        }

        let mut ready: BinaryHeap<Reverse<&str>> = in_degree
            .iter()
            .filter(|(_, &n)| n == 0)
            .map(|(&m, _)| Reverse(m))
            .collect();

        let mut order = Vec::with_capacity(self.deps.len());
        while let Some(Reverse(module)) = ready.pop() {
            order.push(module.to_string());
            for &next in dependents.get(module).map(Vec::as_slice).unwrap_or(&[]) {
                let n = in_degree.get_mut(next).expect("declared module");
                *n -= 1;
                if *n == 0 {
                    ready.push(Reverse(next));
                }
            }
        }

        if order.len() == self.deps.len() {
            Ok(order)
        } else {
            let stuck = in_degree
                .into_iter()
                .filter(|&(_, n)| n > 0)
                .map(|(m, _)| m.to_string())
                .collect();
            Err(GraphError::Cycle(stuck))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orders_dependencies_first() {
        let mut g = DepGraph::new();
        g.add("app", ["http", "db"])
            .add("http", ["core"])
            .add("db", ["core"])
            .add("core", Vec::<String>::new());
        assert_eq!(g.build_order().unwrap(), vec!["core", "db", "http", "app"]);
    }

    #[test]
    fn detects_cycles() {
        let mut g = DepGraph::new();
        g.add("a", ["b"]).add("b", ["c"]).add("c", ["a"]).add("d", Vec::<String>::new());
        assert_eq!(
            g.build_order(),
            Err(GraphError::Cycle(vec!["a".into(), "b".into(), "c".into()]))
        );
    }

    #[test]
    fn reports_unknown_dependency() {
        let mut g = DepGraph::new();
        g.add("web", ["templates"]);
        assert!(matches!(
            g.build_order(),
            Err(GraphError::UnknownDependency { ref missing, .. }) if missing == "templates"
        ));
    }
}
