//! What the identity provider's groups grant: site administration and team
//! roles, by rules the operator gives (`serve --oidc-admin-group`,
//! `--oidc-team-role GROUP=TEAM:ROLE`). The provider is the authority for
//! what the rules name and for nothing else: a team no rule names keeps the
//! members managed in atlascope, and without administrator groups the
//! administrator flag is managed in atlascope too.

use super::accounts::Role;

/// One `--oidc-team-role` rule: members of `group` get `role` on `team`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TeamRoleRule {
    pub group: String,
    /// The team's name (matched in any case).
    pub team: String,
    pub role: Role,
}

impl TeamRoleRule {
    /// Reads `GROUP=TEAM:ROLE`; the team name may itself hold `:` and `=`
    /// (the group ends at the first `=`, the role starts after the last `:`).
    pub fn parse(raw: &str) -> Result<TeamRoleRule, String> {
        let shape = || format!("`{raw}` is not GROUP=TEAM:ROLE (for example ml-red-team=Fraud models:editor)");
        let (group, rest) = raw.split_once('=').ok_or_else(shape)?;
        let (team, role) = rest.rsplit_once(':').ok_or_else(shape)?;
        let (group, team) = (group.trim(), team.trim());
        if group.is_empty() || team.is_empty() {
            return Err(shape());
        }
        let role = Role::parse(role).map_err(|e| format!("`{raw}`: {e}"))?;
        Ok(TeamRoleRule { group: group.to_string(), team: team.to_string(), role })
    }
}

/// The operator's rules.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GroupRules {
    /// Members of any of these groups are site administrators, and nobody
    /// else is (when the list is not empty).
    pub admin_groups: Vec<String>,
    pub team_roles: Vec<TeamRoleRule>,
}

/// What one person's groups grant under the rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grants {
    /// `None` when no rule speaks of administration.
    pub admin: Option<bool>,
    /// Each team some rule names, with the highest role the person's groups
    /// give there, or `None` (no membership), in the rules' order.
    pub teams: Vec<(String, Option<Role>)>,
}

impl GroupRules {
    pub fn grants(&self, groups: &[String]) -> Grants {
        let member_of = |group: &str| groups.iter().any(|g| g == group);
        let admin = (!self.admin_groups.is_empty()).then(|| self.admin_groups.iter().any(|g| member_of(g)));
        let mut teams: Vec<(String, Option<Role>)> = Vec::new();
        for rule in &self.team_roles {
            let granted = member_of(&rule.group).then_some(rule.role);
            match teams.iter_mut().find(|(team, _)| team.eq_ignore_ascii_case(&rule.team)) {
                Some((_, role)) => *role = (*role).max(granted),
                None => teams.push((rule.team.clone(), granted)),
            }
        }
        Grants { admin, teams }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> GroupRules {
        GroupRules {
            admin_groups: vec!["atlas-admins".into()],
            team_roles: vec![
                TeamRoleRule::parse("ml-red-team=Fraud models:editor").unwrap(),
                TeamRoleRule::parse("ml-leads=fraud models:owner").unwrap(),
                TeamRoleRule::parse("auditors=Vision:viewer").unwrap(),
            ],
        }
    }

    #[test]
    fn the_highest_role_of_a_persons_groups_wins_and_unmatched_teams_lose_the_membership() {
        let grants = rules().grants(&["ml-red-team".into(), "ml-leads".into()]);
        assert_eq!(grants.admin, Some(false));
        assert_eq!(grants.teams, vec![("Fraud models".to_string(), Some(Role::Owner)), ("Vision".to_string(), None)]);
        assert_eq!(rules().grants(&["atlas-admins".into()]).admin, Some(true));
    }

    #[test]
    fn without_administrator_groups_the_flag_is_left_alone() {
        let rules = GroupRules { admin_groups: vec![], team_roles: vec![] };
        assert_eq!(rules.grants(&["anything".into()]), Grants { admin: None, teams: vec![] });
    }

    #[test]
    fn team_rules_are_read_with_colons_in_the_team_name_and_refused_in_words() {
        let rule = TeamRoleRule::parse("g=Team: vision:owner").unwrap();
        assert_eq!((rule.group.as_str(), rule.team.as_str(), rule.role), ("g", "Team: vision", Role::Owner));
        assert!(TeamRoleRule::parse("no-equals").unwrap_err().contains("GROUP=TEAM:ROLE"));
        assert!(TeamRoleRule::parse("g=Team:admin").unwrap_err().contains("viewer, editor, owner"));
        assert!(TeamRoleRule::parse("=Team:owner").is_err());
    }
}
