//! Keymap: per-view sections in TOML, embedded defaults, user overrides per action, and
//! conflicts refused at load with both actions named.

use std::collections::{BTreeMap, HashMap};

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::action::{Action, from_name, name_of};

pub const DEFAULT_KEYMAP: &str = include_str!("keymap.toml");

/// The views that have key sections.
pub const VIEWS: &[&str] =
    &["global", "review", "adjudicate", "stats", "push", "runs", "help", "note"];

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum KeymapError {
    #[error("keymap: {0}")]
    Parse(String),
    #[error("keymap [{view}]: unknown view (known: {known})")]
    UnknownView { view: String, known: String },
    #[error("keymap [{view}]: unknown action `{action}`")]
    UnknownAction { view: String, action: String },
    #[error("keymap [{view}] {action}: cannot read key {key:?}: {reason}")]
    BadKey { view: String, action: String, key: String, reason: String },
    #[error(
        "keymap: key `{key}` is bound to both `{first}` ([{first_view}]) and `{second}` ([{second_view}])"
    )]
    Conflict { key: String, first: String, first_view: String, second: String, second_view: String },
}

/// A normalised key: code plus modifiers (shift folded into the character for letters).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Key {
    pub code: KeyCode,
    pub mods: KeyModifiers,
}

impl Key {
    pub fn from_event(e: &KeyEvent) -> Self {
        let mut mods = e.modifiers & (KeyModifiers::CONTROL | KeyModifiers::ALT);
        let code = match e.code {
            // Terminals report Shift-Tab as BackTab, sometimes with SHIFT set too.
            KeyCode::BackTab => KeyCode::BackTab,
            KeyCode::Char(c) => KeyCode::Char(c),
            other => {
                if e.modifiers.contains(KeyModifiers::SHIFT) {
                    mods |= KeyModifiers::SHIFT;
                }
                other
            }
        };
        Key { code, mods }
    }

    /// Parse "j", "G", "ctrl-c", "alt-x", "enter", "shift-tab", "f1", "space", "?".
    pub fn parse(s: &str) -> Result<Self, String> {
        let lower = s.to_ascii_lowercase();
        let mut mods = KeyModifiers::NONE;
        let mut rest = s;
        loop {
            let l = rest.to_ascii_lowercase();
            if let Some(r) = l.strip_prefix("ctrl-").or_else(|| l.strip_prefix("c-")) {
                mods |= KeyModifiers::CONTROL;
                rest = &rest[rest.len() - r.len()..];
            } else if let Some(r) = l.strip_prefix("alt-").or_else(|| l.strip_prefix("m-")) {
                mods |= KeyModifiers::ALT;
                rest = &rest[rest.len() - r.len()..];
            } else if let Some(r) = l.strip_prefix("shift-").filter(|r| !r.is_empty()) {
                mods |= KeyModifiers::SHIFT;
                rest = &rest[rest.len() - r.len()..];
            } else {
                break;
            }
        }
        let _ = lower;
        let named = rest.to_ascii_lowercase();
        let code = match named.as_str() {
            "enter" | "return" | "ret" => KeyCode::Enter,
            "esc" | "escape" => KeyCode::Esc,
            "tab" if mods.contains(KeyModifiers::SHIFT) => {
                mods.remove(KeyModifiers::SHIFT);
                KeyCode::BackTab
            }
            "tab" => KeyCode::Tab,
            "backtab" => KeyCode::BackTab,
            "space" => KeyCode::Char(' '),
            "backspace" => KeyCode::Backspace,
            "delete" | "del" => KeyCode::Delete,
            "up" => KeyCode::Up,
            "down" => KeyCode::Down,
            "left" => KeyCode::Left,
            "right" => KeyCode::Right,
            "home" => KeyCode::Home,
            "end" => KeyCode::End,
            "pageup" | "pgup" => KeyCode::PageUp,
            "pagedown" | "pgdn" => KeyCode::PageDown,
            f if f.len() >= 2 && f.starts_with('f') && f[1..].parse::<u8>().is_ok() => {
                let n: u8 = f[1..].parse().map_err(|_| "bad function key".to_string())?;
                if !(1..=12).contains(&n) {
                    return Err("function keys are f1 to f12".into());
                }
                KeyCode::F(n)
            }
            _ => {
                let mut chars = rest.chars();
                match (chars.next(), chars.next()) {
                    (Some(c), None) => {
                        // "shift-a" means "A"; a bare upper-case letter already is.
                        if mods.contains(KeyModifiers::SHIFT) {
                            mods.remove(KeyModifiers::SHIFT);
                            KeyCode::Char(c.to_ascii_uppercase())
                        } else {
                            KeyCode::Char(c)
                        }
                    }
                    _ => return Err("not a key name".into()),
                }
            }
        };
        Ok(Key { code, mods })
    }

    /// Display form for hints and help.
    pub fn label(&self) -> String {
        let mut s = String::new();
        if self.mods.contains(KeyModifiers::CONTROL) {
            s.push_str("C-");
        }
        if self.mods.contains(KeyModifiers::ALT) {
            s.push_str("M-");
        }
        if self.mods.contains(KeyModifiers::SHIFT) {
            s.push_str("S-");
        }
        match self.code {
            KeyCode::Char(' ') => s.push_str("Space"),
            KeyCode::Char(c) => s.push(c),
            KeyCode::Enter => s.push_str("Enter"),
            KeyCode::Esc => s.push_str("Esc"),
            KeyCode::Tab => s.push_str("Tab"),
            KeyCode::BackTab => s.push_str("S-Tab"),
            KeyCode::Up => s.push('↑'),
            KeyCode::Down => s.push('↓'),
            KeyCode::F(n) => s.push_str(&format!("F{n}")),
            other => s.push_str(&format!("{other:?}")),
        }
        s
    }
}

/// Bindings of every view.
#[derive(Debug, Clone)]
pub struct Keymap {
    views: HashMap<String, HashMap<Key, Action>>,
    /// view -> action name -> keys, for help and hints.
    listed: BTreeMap<String, Vec<(String, Vec<Key>)>>,
}

type Raw = BTreeMap<String, BTreeMap<String, Vec<String>>>;
/// One view's parsed bindings: (action name, action, keys).
type Bindings = Vec<(String, Action, Vec<Key>)>;

impl Keymap {
    /// The defaults with the user's per-action overrides (view -> action -> keys).
    pub fn load(
        overrides: &BTreeMap<String, BTreeMap<String, String>>,
    ) -> Result<Self, KeymapError> {
        let mut raw: Raw =
            toml::from_str(DEFAULT_KEYMAP).map_err(|e| KeymapError::Parse(e.to_string()))?;
        for (view, actions) in overrides {
            let section = raw.entry(view.clone()).or_default();
            for (action, keys) in actions {
                // A value may list several keys separated by commas or spaces.
                let keys: Vec<String> =
                    keys.split([',', ' ']).filter(|k| !k.is_empty()).map(str::to_string).collect();
                section.insert(action.clone(), keys);
            }
        }
        Self::from_raw(raw)
    }

    fn from_raw(raw: Raw) -> Result<Self, KeymapError> {
        let known = VIEWS.join(", ");
        let mut parsed: BTreeMap<String, Bindings> = BTreeMap::new();
        for (view, actions) in &raw {
            if !VIEWS.contains(&view.as_str()) {
                return Err(KeymapError::UnknownView { view: view.clone(), known });
            }
            for (name, keys) in actions {
                let action = from_name(name).ok_or_else(|| KeymapError::UnknownAction {
                    view: view.clone(),
                    action: name.clone(),
                })?;
                let keys = keys
                    .iter()
                    .map(|k| {
                        Key::parse(k).map_err(|reason| KeymapError::BadKey {
                            view: view.clone(),
                            action: name.clone(),
                            key: k.clone(),
                            reason,
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                parsed.entry(view.clone()).or_default().push((name.clone(), action, keys));
            }
        }
        let global = parsed.get("global").cloned().unwrap_or_default();
        let mut views = HashMap::new();
        let mut listed = BTreeMap::new();
        for view in VIEWS {
            let mut map: HashMap<Key, (String, &str, Action)> = HashMap::new();
            let own = parsed.get(*view).cloned().unwrap_or_default();
            // The note editor takes every key itself; globals do not apply there.
            let layers: Vec<(&str, &Bindings)> = if *view == "global" || *view == "note" {
                vec![(view, &own)]
            } else {
                vec![("global", &global), (view, &own)]
            };
            for (layer, entries) in layers {
                for (name, action, keys) in entries {
                    for key in keys {
                        if let Some((first, first_view, _)) = map.get(key)
                            && first != name
                        {
                            return Err(KeymapError::Conflict {
                                key: key.label(),
                                first: first.clone(),
                                first_view: first_view.to_string(),
                                second: name.clone(),
                                second_view: layer.to_string(),
                            });
                        }
                        map.insert(*key, (name.clone(), layer, action.clone()));
                    }
                }
            }
            listed.insert(
                view.to_string(),
                own.iter().map(|(n, _, k)| (n.clone(), k.clone())).collect::<Vec<_>>(),
            );
            views.insert(view.to_string(), map.into_iter().map(|(k, (_, _, a))| (k, a)).collect());
        }
        Ok(Keymap { views, listed })
    }

    /// The action bound to a key in a view (globals included).
    pub fn action(&self, view: &str, key: &KeyEvent) -> Option<Action> {
        self.views.get(view)?.get(&Key::from_event(key)).cloned()
    }

    /// Keys of an action in a view, as display labels.
    pub fn keys_for(&self, view: &str, action: &Action) -> Vec<String> {
        let Some(name) = name_of(action) else { return Vec::new() };
        [view, "global"]
            .iter()
            .filter_map(|v| self.listed.get(*v))
            .flat_map(|entries| entries.iter())
            .filter(|(n, _)| n == name)
            .flat_map(|(_, keys)| keys.iter().map(Key::label))
            .collect()
    }

    /// Every binding of a view for the help overlay: (keys, action name).
    pub fn listing(&self, view: &str) -> Vec<(String, String)> {
        let order: Vec<&str> = super::action::bindable().iter().map(|(n, _, _)| *n).collect();
        let mut out: Vec<(String, String)> = self
            .listed
            .get(view)
            .map(|v| {
                v.iter()
                    .map(|(n, keys)| {
                        (keys.iter().map(Key::label).collect::<Vec<_>>().join(" "), n.clone())
                    })
                    .collect()
            })
            .unwrap_or_default();
        // The help overlay lists actions in the order of the vocabulary, not alphabetically.
        out.sort_by_key(|(_, n)| order.iter().position(|o| o == n).unwrap_or(usize::MAX));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(code: KeyCode, mods: KeyModifiers) -> KeyEvent {
        KeyEvent::new(code, mods)
    }

    #[test]
    fn defaults_load_and_bind() {
        let k = Keymap::load(&BTreeMap::new()).unwrap();
        assert_eq!(
            k.action("review", &ev(KeyCode::Char('j'), KeyModifiers::NONE)),
            Some(Action::MoveDown)
        );
        assert_eq!(
            k.action("review", &ev(KeyCode::Enter, KeyModifiers::NONE)),
            Some(Action::SaveNext)
        );
        assert_eq!(
            k.action("review", &ev(KeyCode::Char('0'), KeyModifiers::NONE)),
            Some(Action::Toggle(10))
        );
        assert_eq!(
            k.action("review", &ev(KeyCode::Char('c'), KeyModifiers::CONTROL)),
            Some(Action::Quit)
        );
        assert_eq!(
            k.action("review", &ev(KeyCode::Char('G'), KeyModifiers::SHIFT)),
            Some(Action::Last)
        );
        assert_eq!(
            k.action("review", &ev(KeyCode::BackTab, KeyModifiers::SHIFT)),
            Some(Action::PrevPane)
        );
        // The note editor sees no globals: 'q' types a q.
        assert_eq!(k.action("note", &ev(KeyCode::Char('q'), KeyModifiers::NONE)), None);
        assert_eq!(k.action("note", &ev(KeyCode::Esc, KeyModifiers::NONE)), Some(Action::Close));
    }

    #[test]
    fn user_override_replaces_an_actions_keys() {
        let mut o = BTreeMap::new();
        o.insert(
            "review".to_string(),
            BTreeMap::from([("save_next".to_string(), "ctrl-s".to_string())]),
        );
        let k = Keymap::load(&o).unwrap();
        assert_eq!(
            k.action("review", &ev(KeyCode::Char('s'), KeyModifiers::CONTROL)),
            Some(Action::SaveNext)
        );
        assert_eq!(k.action("review", &ev(KeyCode::Enter, KeyModifiers::NONE)), None);
        assert_eq!(k.keys_for("review", &Action::SaveNext), ["C-s"]);
    }

    #[test]
    fn conflicts_name_both_actions() {
        let mut o = BTreeMap::new();
        o.insert("review".to_string(), BTreeMap::from([("undo".to_string(), "j".to_string())]));
        let e = Keymap::load(&o).unwrap_err().to_string();
        assert!(e.contains("move_down") && e.contains("undo") && e.contains("`j`"), "{e}");
        // A view binding that collides with a global one is refused too.
        let mut o = BTreeMap::new();
        o.insert("review".to_string(), BTreeMap::from([("skip".to_string(), "q".to_string())]));
        let e = Keymap::load(&o).unwrap_err().to_string();
        assert!(e.contains("quit") && e.contains("skip"), "{e}");
    }

    #[test]
    fn bad_names_are_reported() {
        let mut o = BTreeMap::new();
        o.insert("review".to_string(), BTreeMap::from([("fly".to_string(), "f".to_string())]));
        assert!(matches!(Keymap::load(&o), Err(KeymapError::UnknownAction { .. })));
        let mut o = BTreeMap::new();
        o.insert(
            "review".to_string(),
            BTreeMap::from([("skip".to_string(), "hyper-q".to_string())]),
        );
        assert!(matches!(Keymap::load(&o), Err(KeymapError::BadKey { .. })));
        let mut o = BTreeMap::new();
        o.insert("nowhere".to_string(), BTreeMap::new());
        assert!(matches!(Keymap::load(&o), Err(KeymapError::UnknownView { .. })));
    }

    #[test]
    fn key_names_parse() {
        assert_eq!(Key::parse("shift-tab").unwrap().code, KeyCode::BackTab);
        assert_eq!(Key::parse("F5").unwrap().code, KeyCode::F(5));
        assert_eq!(Key::parse("shift-a").unwrap().code, KeyCode::Char('A'));
        assert_eq!(Key::parse("C-x").unwrap().mods, KeyModifiers::CONTROL);
        assert!(Key::parse("f13").is_err());
    }
}
