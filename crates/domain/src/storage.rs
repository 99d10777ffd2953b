//! Storage: the location tree (site → room → freezer → rack → box), box grids and positions
//! such as `A1`, and the custody event kinds of a sample's chain of custody.

use crate::validate::FieldError;
use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LocationKind {
    Site,
    Room,
    Freezer,
    Rack,
    Box,
}

impl LocationKind {
    pub const ALL: [LocationKind; 5] = [
        LocationKind::Site,
        LocationKind::Room,
        LocationKind::Freezer,
        LocationKind::Rack,
        LocationKind::Box,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            LocationKind::Site => "site",
            LocationKind::Room => "room",
            LocationKind::Freezer => "freezer",
            LocationKind::Rack => "rack",
            LocationKind::Box => "box",
        }
    }

    pub fn parse(field: &str, s: &str) -> Result<Self, FieldError> {
        Self::ALL
            .into_iter()
            .find(|v| v.as_str() == s)
            .ok_or_else(|| {
                FieldError::new(
                    field,
                    format!(
                        "must be one of {}",
                        Self::ALL.map(|v| v.as_str()).join(", ")
                    ),
                )
            })
    }

    /// The kinds a location of this kind may sit in; empty: only at the top of the tree.
    /// A box sits in a rack, or directly in a freezer without racks.
    pub fn allowed_parents(self) -> &'static [LocationKind] {
        use LocationKind::*;
        match self {
            Site => &[],
            Room => &[Site],
            Freezer => &[Room],
            Rack => &[Freezer],
            Box => &[Rack, Freezer],
        }
    }

    /// Checks where a new location goes: `parent` is the parent's kind, or `None` for the top.
    pub fn check_parent(self, parent: Option<LocationKind>) -> Result<(), String> {
        let allowed = self.allowed_parents();
        match parent {
            None if allowed.is_empty() => Ok(()),
            None => Err(format!("a {self} must be inside a {}", kinds_text(allowed))),
            Some(p) if allowed.contains(&p) => Ok(()),
            Some(p) if allowed.is_empty() => Err(format!(
                "a {self} is the top of the tree; it cannot be inside a {p}"
            )),
            Some(p) => Err(format!(
                "a {self} cannot be inside a {p}; it goes inside a {}",
                kinds_text(allowed)
            )),
        }
    }

    /// Only boxes hold samples, in the positions of their grid.
    pub fn has_grid(self) -> bool {
        self == LocationKind::Box
    }
}

fn kinds_text(kinds: &[LocationKind]) -> String {
    kinds
        .iter()
        .map(|k| k.as_str())
        .collect::<Vec<_>>()
        .join(" or ")
}

impl fmt::Display for LocationKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The most rows (`A`–`Z`) and columns a box grid may have.
pub const MAX_ROWS: u32 = 26;
pub const MAX_COLUMNS: u32 = 32;

/// A box's grid: rows lettered from `A`, columns numbered from 1.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grid {
    pub rows: u32,
    pub columns: u32,
}

impl Grid {
    pub fn new(rows: i64, columns: i64) -> Result<Self, FieldError> {
        if !(1..=i64::from(MAX_ROWS)).contains(&rows) {
            return Err(FieldError::new("rows", format!("must be 1 to {MAX_ROWS}")));
        }
        if !(1..=i64::from(MAX_COLUMNS)).contains(&columns) {
            return Err(FieldError::new(
                "columns",
                format!("must be 1 to {MAX_COLUMNS}"),
            ));
        }
        Ok(Self {
            rows: rows as u32,
            columns: columns as u32,
        })
    }

    pub fn size(self) -> u32 {
        self.rows * self.columns
    }

    /// Every position, row by row: `A1, A2, …, B1, …`.
    pub fn positions(self) -> impl Iterator<Item = Position> {
        (0..self.rows)
            .flat_map(move |r| (0..self.columns).map(move |c| Position { row: r, column: c }))
    }

    /// Parses a position such as `A1` or `h12` and checks it lies in this grid.
    pub fn position(self, field: &str, raw: &str) -> Result<Position, FieldError> {
        let p = Position::parse(field, raw)?;
        if p.row >= self.rows || p.column >= self.columns {
            return Err(FieldError::new(
                field,
                format!(
                    "{p} is outside this box's grid (A1 to {})",
                    Position {
                        row: self.rows - 1,
                        column: self.columns - 1
                    }
                ),
            ));
        }
        Ok(p)
    }
}

/// A position in a box grid, zero-based inside; shown as `A1`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Position {
    pub row: u32,
    pub column: u32,
}

impl Position {
    /// `A1` … `Z32`: one row letter and a column number without leading zeros.
    pub fn parse(field: &str, raw: &str) -> Result<Self, FieldError> {
        let bad = || {
            FieldError::new(
                field,
                "must be a row letter and a column number, such as A1 or H12",
            )
        };
        let s = raw.trim();
        let mut chars = s.chars();
        let letter = chars.next().ok_or_else(bad)?.to_ascii_uppercase();
        if !letter.is_ascii_uppercase() {
            return Err(bad());
        }
        let digits = chars.as_str();
        if digits.is_empty()
            || digits.len() > 2
            || !digits.chars().all(|c| c.is_ascii_digit())
            || digits.starts_with('0')
        {
            return Err(bad());
        }
        let column: u32 = digits.parse().map_err(|_| bad())?;
        Ok(Self {
            row: u32::from(letter) - u32::from('A'),
            column: column - 1,
        })
    }

    pub fn row_letter(self) -> char {
        char::from_u32(u32::from('A') + self.row).unwrap_or('?')
    }
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.row_letter(), self.column + 1)
    }
}

/// What a custody event records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CustodyKind {
    /// The sample was registered; its registrant holds it.
    Registered,
    /// It was handed from one member to another.
    Handover,
    /// It was put into a box position.
    Placed,
    /// It moved from one box position to another.
    Moved,
    /// It was taken out of its box position.
    Removed,
    /// Its lifecycle status changed.
    Status,
}

impl CustodyKind {
    pub const ALL: [CustodyKind; 6] = [
        CustodyKind::Registered,
        CustodyKind::Handover,
        CustodyKind::Placed,
        CustodyKind::Moved,
        CustodyKind::Removed,
        CustodyKind::Status,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            CustodyKind::Registered => "registered",
            CustodyKind::Handover => "handover",
            CustodyKind::Placed => "placed",
            CustodyKind::Moved => "moved",
            CustodyKind::Removed => "removed",
            CustodyKind::Status => "status",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// A location name: 1 to 100 characters, no control characters.
pub fn parse_location_name(field: &str, raw: &str) -> Result<String, FieldError> {
    let s = raw.trim();
    if s.is_empty() || s.chars().count() > 100 {
        return Err(FieldError::new(field, "must be 1 to 100 characters"));
    }
    if s.chars().any(char::is_control) {
        return Err(FieldError::new(
            field,
            "must not contain control characters",
        ));
    }
    Ok(s.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use LocationKind::*;

    #[test]
    fn nesting_rules_allow_exactly_the_tree() {
        let legal: [(LocationKind, Option<LocationKind>); 6] = [
            (Site, None),
            (Room, Some(Site)),
            (Freezer, Some(Room)),
            (Rack, Some(Freezer)),
            (Box, Some(Rack)),
            (Box, Some(Freezer)),
        ];
        let parents = [
            None,
            Some(Site),
            Some(Room),
            Some(Freezer),
            Some(Rack),
            Some(Box),
        ];
        for kind in LocationKind::ALL {
            for parent in parents {
                assert_eq!(
                    kind.check_parent(parent).is_ok(),
                    legal.contains(&(kind, parent)),
                    "{kind} in {parent:?}"
                );
            }
        }
        assert_eq!(
            Box.check_parent(Some(Room)).unwrap_err(),
            "a box cannot be inside a room; it goes inside a rack or freezer"
        );
        assert_eq!(
            Room.check_parent(None).unwrap_err(),
            "a room must be inside a site"
        );
        assert_eq!(
            Site.check_parent(Some(Site)).unwrap_err(),
            "a site is the top of the tree; it cannot be inside a site"
        );
        assert!(Box.has_grid() && !Rack.has_grid());
        assert_eq!(LocationKind::parse("kind", "freezer").unwrap(), Freezer);
        assert!(LocationKind::parse("kind", "shelf").is_err());
    }

    #[test]
    fn positions_parse_and_print() {
        let p = Position::parse("position", "A1").unwrap();
        assert_eq!((p.row, p.column), (0, 0));
        let p = Position::parse("position", " h12 ").unwrap();
        assert_eq!((p.row, p.column), (7, 11));
        assert_eq!(p.to_string(), "H12");
        for bad in [
            "", "1A", "A", "A0", "A01", "A123", "AA1", "Ä1", "A-1", "A1 B2", "a 1",
        ] {
            let e = Position::parse("position", bad).unwrap_err();
            assert_eq!(e.field, "position", "{bad}");
        }
    }

    #[test]
    fn grids_bound_positions() {
        let g = Grid::new(8, 12).unwrap();
        assert_eq!(g.size(), 96);
        assert!(g.position("p", "H12").is_ok());
        let e = g.position("p", "I1").unwrap_err();
        assert_eq!(e.message, "I1 is outside this box's grid (A1 to H12)");
        assert!(g.position("p", "A13").is_err());
        let all: Vec<String> = Grid::new(2, 2)
            .unwrap()
            .positions()
            .map(|p| p.to_string())
            .collect();
        assert_eq!(all, ["A1", "A2", "B1", "B2"]);
        assert_eq!(Grid::new(0, 5).unwrap_err().field, "rows");
        assert_eq!(Grid::new(27, 5).unwrap_err().field, "rows");
        assert_eq!(Grid::new(5, 33).unwrap_err().field, "columns");
        assert!(Grid::new(26, 32).is_ok());
    }

    #[test]
    fn names_and_custody_kinds() {
        assert_eq!(
            parse_location_name("name", " Freezer 3 ").unwrap(),
            "Freezer 3"
        );
        assert!(parse_location_name("name", "").is_err());
        assert!(parse_location_name("name", &"x".repeat(101)).is_err());
        assert!(parse_location_name("name", "a\u{7}b").is_err());
        for k in CustodyKind::ALL {
            assert_eq!(CustodyKind::parse(k.as_str()), Some(k));
        }
    }
}
