//! Recursive schemas: aliases that refer to themselves become newtypes (a type alias cannot
//! be recursive), and a field that makes a type contain itself by value is boxed.

use crate::ir::{TypeDef, TypeId, TypeKind, TypeRef};

pub(crate) fn break_cycles(types: &mut [TypeDef]) {
    alias_cycles_to_newtypes(types);
    box_direct_cycles(types);
}

/// Named types mentioned anywhere in `ty`.
fn mentions(ty: &TypeRef, out: &mut Vec<TypeId>) {
    match ty {
        TypeRef::Named(id) => out.push(*id),
        TypeRef::Vec(inner)
        | TypeRef::Map(inner)
        | TypeRef::Option(inner)
        | TypeRef::Box(inner) => mentions(inner, out),
        _ => {}
    }
}

/// Named types held by value in `ty` (not behind `Vec`, map or `Box`).
fn direct(ty: &TypeRef, out: &mut Vec<TypeId>) {
    match ty {
        TypeRef::Named(id) => out.push(*id),
        TypeRef::Option(inner) => direct(inner, out),
        _ => {}
    }
}

fn members(kind: &TypeKind) -> Vec<&TypeRef> {
    match kind {
        TypeKind::Struct {
            fields, additional, ..
        } => fields
            .iter()
            .map(|f| &f.ty)
            .chain(additional.iter())
            .collect(),
        TypeKind::Union { variants, .. } => variants.iter().map(|v| &v.ty).collect(),
        TypeKind::Alias(ty) | TypeKind::Newtype(ty) => vec![ty],
        TypeKind::StringEnum { .. } | TypeKind::IntEnum { .. } => Vec::new(),
    }
}

fn alias_cycles_to_newtypes(types: &mut [TypeDef]) {
    let is_alias = |t: &TypeDef| matches!(t.kind, TypeKind::Alias(_));
    let edges: Vec<Vec<TypeId>> = types
        .iter()
        .map(|t| {
            let mut out = Vec::new();
            if let TypeKind::Alias(ty) = &t.kind {
                mentions(ty, &mut out);
            }
            out.retain(|&id| is_alias(&types[id]));
            out
        })
        .collect();
    let scc = strongly_connected(&edges);
    let cyclic = cyclic_nodes(&edges, &scc);
    for (id, cyclic) in cyclic.into_iter().enumerate() {
        if cyclic {
            if let TypeKind::Alias(ty) = &types[id].kind {
                types[id].kind = TypeKind::Newtype(ty.clone());
            }
        }
    }
}

fn box_direct_cycles(types: &mut [TypeDef]) {
    let edges: Vec<Vec<TypeId>> = types
        .iter()
        .map(|t| {
            let mut out = Vec::new();
            for ty in members(&t.kind) {
                direct(ty, &mut out);
            }
            out
        })
        .collect();
    let scc = strongly_connected(&edges);
    for id in 0..types.len() {
        let own = scc[id];
        let boxed = |ty: &mut TypeRef| box_in_component(ty, own, &scc);
        match &mut types[id].kind {
            TypeKind::Struct {
                fields, additional, ..
            } => {
                fields.iter_mut().for_each(|f| boxed(&mut f.ty));
                if let Some(ty) = additional {
                    boxed(ty);
                }
            }
            TypeKind::Union { variants, .. } => variants.iter_mut().for_each(|v| boxed(&mut v.ty)),
            TypeKind::Newtype(ty) => boxed(ty),
            TypeKind::Alias(_) | TypeKind::StringEnum { .. } | TypeKind::IntEnum { .. } => {}
        }
    }
}

fn box_in_component(ty: &mut TypeRef, component: usize, scc: &[usize]) {
    match ty {
        TypeRef::Named(id) if scc[*id] == component => {
            *ty = TypeRef::Box(Box::new(TypeRef::Named(*id)));
        }
        TypeRef::Option(inner) => box_in_component(inner, component, scc),
        _ => {}
    }
}

/// Nodes on a cycle: in a component of two or more, or with an edge to themselves.
fn cyclic_nodes(edges: &[Vec<usize>], scc: &[usize]) -> Vec<bool> {
    let mut size = vec![0usize; edges.len()];
    for &c in scc {
        size[c] += 1;
    }
    (0..edges.len())
        .map(|n| size[scc[n]] > 1 || edges[n].contains(&n))
        .collect()
}

/// Tarjan's strongly connected components, iterative (graphs of real specs are deep).
/// Returns the component number of every node.
pub(crate) fn strongly_connected(edges: &[Vec<usize>]) -> Vec<usize> {
    const UNVISITED: usize = usize::MAX;
    let n = edges.len();
    let mut index = vec![UNVISITED; n];
    let mut low = vec![0; n];
    let mut on_stack = vec![false; n];
    let mut stack = Vec::new();
    let mut component = vec![UNVISITED; n];
    let mut next_index = 0;
    let mut next_component = 0;
    for start in 0..n {
        if index[start] != UNVISITED {
            continue;
        }
        let mut work = vec![(start, 0usize)];
        while let Some(&mut (node, ref mut edge)) = work.last_mut() {
            if *edge == 0 && index[node] == UNVISITED {
                index[node] = next_index;
                low[node] = next_index;
                next_index += 1;
                stack.push(node);
                on_stack[node] = true;
            }
            if let Some(&next) = edges[node].get(*edge) {
                *edge += 1;
                if index[next] == UNVISITED {
                    work.push((next, 0));
                } else if on_stack[next] {
                    low[node] = low[node].min(index[next]);
                }
                continue;
            }
            work.pop();
            if let Some(&(parent, _)) = work.last() {
                low[parent] = low[parent].min(low[node]);
            }
            if low[node] == index[node] {
                while let Some(member) = stack.pop() {
                    on_stack[member] = false;
                    component[member] = next_component;
                    if member == node {
                        break;
                    }
                }
                next_component += 1;
            }
        }
    }
    component
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn components() {
        // 0 <-> 1, 2 -> 0, 3 -> 3
        let scc = strongly_connected(&[vec![1], vec![0], vec![0], vec![3]]);
        assert_eq!(scc[0], scc[1]);
        assert_ne!(scc[2], scc[0]);
        let cyclic = cyclic_nodes(&[vec![1], vec![0], vec![0], vec![3]], &scc);
        assert_eq!(cyclic, [true, true, false, true]);
    }
}
