//! The charts of a `process/code-run` answer (`artifacts.charts`), in the daemon's wire shape:
//! `type` always, `elements` always (a list), every other field only when it has a value (the
//! daemon's `omitempty`). A bar's `value` is a string, as the daemon's schema and the Python
//! SDK's strict model say. These types only carry charts; what draws them is `serve`'s code run.

use serde::{Deserialize, Serialize};

/// `artifacts` of a code run; present only when the run made charts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct CodeRunArtifacts {
    pub charts: Vec<Chart>,
}

/// One figure: a chart of `type` `line`, `scatter`, `bar`, `pie`, `box_and_whisker`,
/// `composite_chart` (one element per subplot) or `unknown`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct Chart {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub title: String,
    /// The figure as a PNG, in base64.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub png: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub x_label: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub y_label: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub x_ticks: Vec<f64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub y_ticks: Vec<f64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub x_tick_labels: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub y_tick_labels: Vec<String>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub x_scale: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub y_scale: String,
    pub elements: Vec<ChartElement>,
}

/// A line or scatter series (`label`, `points`), a bar (`label`, `group`, `value`), a pie
/// wedge (`label`, `angle`, `radius`), a box (`label`, `min`, the quartiles, `max`,
/// `outliers`), or a subplot of a composite chart (`type`, `title`, the axis labels).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct ChartElement {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub label: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub points: Vec<[f64; 2]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub group: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub angle: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub radius: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_quartile: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub median: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub third_quartile: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub outliers: Vec<f64>,
    #[serde(rename = "type", skip_serializing_if = "String::is_empty")]
    pub kind: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub title: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub png: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub x_label: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub y_label: String,
}
