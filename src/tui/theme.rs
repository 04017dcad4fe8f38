//! Themes: semantic colour roles in TOML with `parent` inheritance; built-ins embedded, user
//! themes from the config folder; NO_COLOR turns colours off and keeps emphasis.

use std::collections::BTreeMap;
use std::path::Path;

use ratatui::style::{Color, Modifier, Style};
use serde::Deserialize;

const BUILTIN: &[(&str, &str)] = &[
    ("default", include_str!("../../themes/default.toml")),
    ("light", include_str!("../../themes/light.toml")),
    ("high-contrast", include_str!("../../themes/high-contrast.toml")),
    ("gruvbox", include_str!("../../themes/gruvbox.toml")),
];

/// Every role a theme must define (after inheritance).
pub const ROLES: &[&str] = &[
    "fg",
    "bg",
    "muted",
    "border",
    "focus_border",
    "title",
    "selection_fg",
    "selection_bg",
    "confidence_high",
    "confidence_mid",
    "confidence_low",
    "added",
    "removed",
    "error",
    "warning",
    "ok",
    "checked",
    "code",
    "code_bg",
    "role_system",
    "role_user",
    "role_assistant",
    "role_tool",
    "status_fg",
    "status_bg",
    "accent",
];

#[derive(Debug, thiserror::Error)]
pub enum ThemeError {
    #[error("theme {name}: {message}")]
    Invalid { name: String, message: String },
    #[error(
        "theme {0:?} not found (built-in: default, light, high-contrast, gruvbox; user themes in {1})"
    )]
    NotFound(String, String),
    #[error("theme {0}: parent chain loops")]
    Loop(String),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTheme {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    parent: Option<String>,
    #[serde(default)]
    colors: BTreeMap<String, String>,
}

/// A resolved theme.
#[derive(Debug, Clone, PartialEq)]
pub struct Theme {
    pub name: String,
    colors: BTreeMap<String, Color>,
    pub no_color: bool,
}

impl Theme {
    /// Load a theme by name: user folder first (so users can shadow built-ins), then built-ins.
    pub fn load(name: &str, user_dir: Option<&Path>, no_color: bool) -> Result<Self, ThemeError> {
        let mut chain = Vec::new();
        let mut next = Some(name.to_string());
        while let Some(n) = next {
            if chain.iter().any(|(c, _): &(String, RawTheme)| c == &n) {
                return Err(ThemeError::Loop(name.to_string()));
            }
            let raw = find(&n, user_dir)?;
            next = raw.parent.clone().or_else(|| (n != "default").then(|| "default".to_string()));
            chain.push((n, raw));
        }
        let mut colors = BTreeMap::new();
        for (n, raw) in chain.iter().rev() {
            for (role, value) in &raw.colors {
                if !ROLES.contains(&role.as_str()) {
                    return Err(ThemeError::Invalid {
                        name: n.clone(),
                        message: format!("unknown role `{role}`"),
                    });
                }
                let c = parse_color(value)
                    .map_err(|message| ThemeError::Invalid { name: n.clone(), message })?;
                colors.insert(role.clone(), c);
            }
        }
        if let Some(missing) = ROLES.iter().find(|r| !colors.contains_key(**r)) {
            return Err(ThemeError::Invalid {
                name: name.into(),
                message: format!("role `{missing}` has no colour"),
            });
        }
        let display =
            chain.first().and_then(|(_, r)| r.name.clone()).unwrap_or_else(|| name.to_string());
        Ok(Theme { name: display, colors, no_color })
    }

    /// The colour of a role (Reset under NO_COLOR).
    pub fn color(&self, role: &str) -> Color {
        if self.no_color {
            return Color::Reset;
        }
        self.colors.get(role).copied().unwrap_or(Color::Reset)
    }

    /// Foreground style of a role.
    pub fn fg(&self, role: &str) -> Style {
        Style::default().fg(self.color(role))
    }

    pub fn base(&self) -> Style {
        Style::default().fg(self.color("fg")).bg(self.color("bg"))
    }

    pub fn muted(&self) -> Style {
        let s = self.fg("muted");
        if self.no_color { s.add_modifier(Modifier::DIM) } else { s }
    }

    pub fn border(&self, focused: bool) -> Style {
        if focused {
            self.fg("focus_border").add_modifier(Modifier::BOLD)
        } else {
            self.fg("border")
        }
    }

    /// Selected row: reversed video under NO_COLOR so it stays visible.
    pub fn selection(&self) -> Style {
        if self.no_color {
            Style::default().add_modifier(Modifier::REVERSED)
        } else {
            Style::default().fg(self.color("selection_fg")).bg(self.color("selection_bg"))
        }
    }

    pub fn status_bar(&self) -> Style {
        if self.no_color {
            Style::default().add_modifier(Modifier::REVERSED)
        } else {
            Style::default().fg(self.color("status_fg")).bg(self.color("status_bg"))
        }
    }

    /// Colour role for a confidence value.
    pub fn confidence(&self, c: f64) -> Style {
        let role = if c >= 0.8 {
            "confidence_high"
        } else if c >= 0.6 {
            "confidence_mid"
        } else {
            "confidence_low"
        };
        self.fg(role)
    }
}

fn find(name: &str, user_dir: Option<&Path>) -> Result<RawTheme, ThemeError> {
    if let Some(dir) = user_dir {
        let p = dir.join(format!("{name}.toml"));
        if let Ok(text) = std::fs::read_to_string(&p) {
            return toml::from_str(&text).map_err(|e| ThemeError::Invalid {
                name: p.display().to_string(),
                message: e.to_string(),
            });
        }
    }
    let (_, text) = BUILTIN.iter().find(|(n, _)| *n == name).ok_or_else(|| {
        ThemeError::NotFound(
            name.into(),
            user_dir.map(|d| d.display().to_string()).unwrap_or_default(),
        )
    })?;
    toml::from_str(text)
        .map_err(|e| ThemeError::Invalid { name: name.into(), message: e.to_string() })
}

fn parse_color(s: &str) -> Result<Color, String> {
    let t = s.trim();
    if let Some(hex) = t.strip_prefix('#') {
        if hex.len() == 6 && hex.chars().all(|c| c.is_ascii_hexdigit()) {
            let v = u32::from_str_radix(hex, 16).map_err(|e| e.to_string())?;
            return Ok(Color::Rgb((v >> 16) as u8, (v >> 8) as u8, v as u8));
        }
        return Err(format!("colour {s:?} is not #rrggbb"));
    }
    t.parse::<Color>().map_err(|_| format!("unknown colour {s:?}"))
}

/// Whether NO_COLOR asks for no colour (any non-empty value, per no-color.org).
pub fn no_color_env() -> bool {
    std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtins_resolve_every_role() {
        for (name, _) in BUILTIN {
            let t = Theme::load(name, None, false).unwrap();
            // bg may be "reset" on purpose (the terminal's own background); the rest must be set.
            for r in ROLES.iter().filter(|r| **r != "bg") {
                assert_ne!(t.color(r), Color::Reset, "{name}.{r}");
            }
        }
    }

    #[test]
    fn user_theme_inherits_and_overrides() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("mine.toml"),
            "parent = \"light\"\n[colors]\naccent = \"#010203\"\n",
        )
        .unwrap();
        let t = Theme::load("mine", Some(dir.path()), false).unwrap();
        assert_eq!(t.color("accent"), Color::Rgb(1, 2, 3));
        assert_eq!(t.color("fg"), Theme::load("light", None, false).unwrap().color("fg"));
    }

    #[test]
    fn bad_themes_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.toml"), "parent = \"b\"\n").unwrap();
        std::fs::write(dir.path().join("b.toml"), "parent = \"a\"\n").unwrap();
        assert!(matches!(Theme::load("a", Some(dir.path()), false), Err(ThemeError::Loop(_))));
        std::fs::write(dir.path().join("c.toml"), "[colors]\nsparkle = \"red\"\n").unwrap();
        assert!(
            Theme::load("c", Some(dir.path()), false).unwrap_err().to_string().contains("sparkle")
        );
        std::fs::write(dir.path().join("d.toml"), "[colors]\nfg = \"#12\"\n").unwrap();
        assert!(Theme::load("d", Some(dir.path()), false).is_err());
        assert!(matches!(Theme::load("nope", None, false), Err(ThemeError::NotFound(..))));
    }

    #[test]
    fn no_color_turns_colours_off() {
        let t = Theme::load("default", None, true).unwrap();
        assert_eq!(t.color("error"), Color::Reset);
        assert!(t.selection().add_modifier.contains(Modifier::REVERSED));
    }
}
