//! A searchable list of ATLAS techniques to tick, used wherever a team maps
//! one of its own measures to techniques: every technique of the release by
//! ID with its full name, and any ticked ID the release no longer has.

use crate::atlas::Framework;

/// One technique to tick.
pub struct PickerOption {
    pub id: String,
    pub label: String,
    pub checked: bool,
}

/// The options for `framework`, ticked where `chosen` names them.
pub fn options(framework: &Framework, chosen: &[String]) -> Vec<PickerOption> {
    let mut options: Vec<PickerOption> = framework
        .techniques()
        .iter()
        .map(|t| PickerOption {
            id: t.id.clone(),
            label: framework.full_name(t),
            checked: chosen.iter().any(|c| c.eq_ignore_ascii_case(&t.id)),
        })
        .collect();
    for id in chosen.iter().filter(|c| framework.technique(c).is_none()) {
        options.push(PickerOption {
            id: id.clone(),
            label: format!("(not in ATLAS {})", framework.version()),
            checked: true,
        });
    }
    options.sort_by(|a, b| a.id.cmp(&b.id));
    options
}

/// Technique IDs from a form: the ticked boxes, each of which may also be a
/// list typed by hand (commas, spaces or new lines between IDs).
pub fn chosen_ids(values: &[String]) -> Vec<String> {
    let mut ids: Vec<String> = values
        .iter()
        .flat_map(|v| v.split(|c: char| c == ',' || c.is_whitespace()))
        .filter(|t| !t.is_empty())
        .map(str::to_string)
        .collect();
    ids.dedup();
    ids
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticked_boxes_and_typed_lists_both_give_ids() {
        let values = vec!["AML.T0051".to_string(), "AML.T0043, AML.T0048\nAML.T0010".to_string()];
        assert_eq!(chosen_ids(&values), ["AML.T0051", "AML.T0043", "AML.T0048", "AML.T0010"]);
    }
}
