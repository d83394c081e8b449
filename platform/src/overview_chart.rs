//! The console's overview of a tenant's token requests in the last hour, drawn on the server as
//! a small SVG: one stacked bar per grant type (issued, then each refusal), the totals as text, a
//! legend, and a line of all requests per minute.
//!
//! The SVG is self-contained and inert: no script, no event handler attribute, no external
//! reference, no `style`; only presentation attributes. Every text in it (tenant names and grant
//! types come from configuration, for instance URNs) is XML-escaped here, so a page may embed it
//! as it is. Coordinates are whole pixels: nothing depends on how a float prints.

use std::fmt::{self, Write};

use crate::metrics::{RecentRequests, RECENT_MINUTES};

const WIDTH: u64 = 640;
const MARGIN: u64 = 16;
/// Where the title's baseline sits.
const TITLE_Y: u64 = 24;
/// The per-minute line: where its area starts and how tall it is.
const SPARKLINE_TOP: u64 = 56;
const SPARKLINE_HEIGHT: u64 = 40;
/// Pixels between two minutes of the line: 59 steps fit the width inside the margins.
const MINUTE_STEP: u64 = 10;
/// Where the first grant type's row starts, below the line and its axis labels.
const BARS_TOP: u64 = 128;
const ROW_HEIGHT: u64 = 40;
const BAR_HEIGHT: u64 = 14;
/// The longest bar (the grant type with the most requests); the rest of the row holds its total.
const BAR_WIDTH: u64 = 544;
/// Space between the last bar's row and the legend.
const LEGEND_GAP: u64 = 8;
const LEGEND_COLUMNS: u64 = 3;
const LEGEND_COLUMN_WIDTH: u64 = 200;
const LEGEND_ROW_HEIGHT: u64 = 20;
const EMPTY_HEIGHT: u64 = 64;

const ISSUED: &str = "issued";

/// The colour of an outcome, the same on every chart so an operator learns them once: `issued`
/// green, each error code the token endpoint sends (`oauth/error.rs`) its own, anything else grey.
fn outcome_colour(outcome: &str) -> &'static str {
    match outcome {
        ISSUED => "#2e7d32",
        "invalid_grant" => "#c62828",
        "invalid_client" => "#ef6c00",
        "invalid_request" => "#f9a825",
        "unauthorized_client" => "#6a1b9a",
        "unsupported_grant_type" => "#ad1457",
        "invalid_scope" => "#1565c0",
        "invalid_target" => "#00838f",
        "temporarily_unavailable" => "#6d4c41",
        "server_error" => "#212121",
        _ => "#9e9e9e",
    }
}

/// The SVG of `tenant`'s token requests in the last hour, from `Metrics::recent_token_requests`
/// (any order; entries with no requests are left out).
pub fn token_requests_svg(tenant: &str, recent: &[RecentRequests]) -> String {
    let mut svg = String::new();
    // Writing into a String cannot fail.
    let _ = write_chart(&mut svg, tenant, &Overview::of(recent));
    svg
}

/// What the chart shows, in the order it shows it.
struct Overview<'a> {
    /// Grant types sorted by name, each with its outcomes: `issued` first, then the refusals by
    /// name.
    grant_types: Vec<GrantTypeRequests<'a>>,
    /// Every outcome on the chart with its count over all grant types, in legend order.
    outcomes: Vec<(&'a str, u64)>,
    /// All requests per minute, the oldest first.
    per_minute: Vec<u64>,
    total: u64,
}

struct GrantTypeRequests<'a> {
    grant_type: &'a str,
    outcomes: Vec<(&'a str, u64)>,
    total: u64,
}

/// `issued` before any refusal, the refusals by name.
fn outcome_order(outcome: &str) -> (bool, &str) {
    (outcome != ISSUED, outcome)
}

impl<'a> Overview<'a> {
    fn of(recent: &'a [RecentRequests]) -> Overview<'a> {
        let mut series: Vec<&RecentRequests> = recent.iter().filter(|r| r.total > 0).collect();
        series.sort_by(|a, b| {
            (a.grant_type.as_str(), outcome_order(&a.outcome))
                .cmp(&(b.grant_type.as_str(), outcome_order(&b.outcome)))
        });

        let mut grant_types: Vec<GrantTypeRequests> = Vec::new();
        let mut outcomes: Vec<(&str, u64)> = Vec::new();
        let mut per_minute = vec![0u64; RECENT_MINUTES];
        for requests in series {
            match grant_types.last_mut() {
                Some(last) if last.grant_type == requests.grant_type => {
                    last.outcomes.push((&requests.outcome, requests.total));
                    last.total = last.total.saturating_add(requests.total);
                }
                _ => grant_types.push(GrantTypeRequests {
                    grant_type: &requests.grant_type,
                    outcomes: vec![(&requests.outcome, requests.total)],
                    total: requests.total,
                }),
            }
            match outcomes.iter_mut().find(|(o, _)| *o == requests.outcome) {
                Some((_, count)) => *count = count.saturating_add(requests.total),
                None => outcomes.push((&requests.outcome, requests.total)),
            }
            // A window of another length (not from this server's metrics) still lines up on its
            // most recent minute.
            let skip = RECENT_MINUTES.saturating_sub(requests.per_minute.len());
            let from = requests.per_minute.len().saturating_sub(RECENT_MINUTES);
            for (sum, count) in per_minute[skip..]
                .iter_mut()
                .zip(&requests.per_minute[from..])
            {
                *sum = sum.saturating_add(*count);
            }
        }
        outcomes.sort_by(|a, b| outcome_order(a.0).cmp(&outcome_order(b.0)));
        let total = grant_types
            .iter()
            .fold(0u64, |sum, g| sum.saturating_add(g.total));
        Overview {
            grant_types,
            outcomes,
            per_minute,
            total,
        }
    }

    fn legend_top(&self) -> u64 {
        BARS_TOP + ROW_HEIGHT * self.grant_types.len() as u64 + LEGEND_GAP
    }

    fn height(&self) -> u64 {
        if self.total == 0 {
            return EMPTY_HEIGHT;
        }
        let legend_rows = (self.outcomes.len() as u64).div_ceil(LEGEND_COLUMNS);
        self.legend_top() + LEGEND_ROW_HEIGHT * legend_rows + MARGIN
    }
}

fn write_chart(svg: &mut String, tenant: &str, overview: &Overview) -> fmt::Result {
    let height = overview.height();
    // The title and description are the accessible name and text of `role="img"`; they are not
    // tied by id (aria-labelledby) so a page can show several charts without clashing ids.
    write!(
        svg,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" role="img" font-family="sans-serif" font-size="12" fill="#212121">"##
    )?;
    write!(
        svg,
        "<title>Token requests in the last hour for tenant {}</title>",
        escape_xml(tenant)
    )?;
    write!(svg, "<desc>{}</desc>", escape_xml(&describe(overview)))?;
    write!(
        svg,
        r#"<text x="{MARGIN}" y="{TITLE_Y}" font-size="15" font-weight="bold">Token requests, last hour: {}</text>"#,
        escape_xml(tenant)
    )?;
    if overview.total == 0 {
        write!(
            svg,
            r##"<text x="{MARGIN}" y="{}" fill="#616161">no token requests in the last hour</text>"##,
            TITLE_Y + 24
        )?;
    } else {
        write_sparkline(svg, overview)?;
        write_bars(svg, overview)?;
        write_legend(svg, overview)?;
    }
    svg.write_str("</svg>")
}

/// The text a screen reader gives for the chart: every number the picture shows.
fn describe(overview: &Overview) -> String {
    if overview.total == 0 {
        return "No token requests in the last hour on this node.".to_owned();
    }
    let mut text = format!(
        "{} token requests in the last hour on this node.",
        overview.total
    );
    for grant_type in &overview.grant_types {
        let outcomes: Vec<String> = grant_type
            .outcomes
            .iter()
            .map(|(outcome, count)| format!("{count} {outcome}"))
            .collect();
        text.push_str(&format!(
            " {}: {} ({}).",
            grant_type.grant_type,
            grant_type.total,
            outcomes.join(", ")
        ));
    }
    text
}

/// All requests per minute as a line, the oldest minute on the left, scaled to the busiest.
fn write_sparkline(svg: &mut String, overview: &Overview) -> fmt::Result {
    let peak = overview.per_minute.iter().copied().max().unwrap_or(0);
    let baseline = SPARKLINE_TOP + SPARKLINE_HEIGHT;
    write!(
        svg,
        r#"<text x="{MARGIN}" y="{}">All {} requests per minute (peak {peak})</text>"#,
        SPARKLINE_TOP - 8,
        overview.total
    )?;
    let right = MARGIN + MINUTE_STEP * (RECENT_MINUTES as u64 - 1);
    write!(
        svg,
        r##"<line x1="{MARGIN}" y1="{baseline}" x2="{right}" y2="{baseline}" stroke="#bdbdbd"/>"##
    )?;
    svg.write_str(r##"<polyline fill="none" stroke="#1565c0" stroke-width="2" points=""##)?;
    for (minute, count) in overview.per_minute.iter().enumerate() {
        let x = MARGIN + MINUTE_STEP * minute as u64;
        let y = baseline - scale(*count, SPARKLINE_HEIGHT, peak);
        if minute > 0 {
            svg.write_char(' ')?;
        }
        write!(svg, "{x},{y}")?;
    }
    svg.write_str(r#""/>"#)?;
    let axis_y = baseline + 14;
    write!(
        svg,
        r##"<text x="{MARGIN}" y="{axis_y}" font-size="11" fill="#616161">{RECENT_MINUTES} min ago</text>"##
    )?;
    write!(
        svg,
        r##"<text x="{right}" y="{axis_y}" font-size="11" fill="#616161" text-anchor="end">now</text>"##
    )
}

/// One row per grant type: its name, a bar of its outcomes side by side, its total at the end.
/// Bars share one scale, the busiest grant type's total filling `BAR_WIDTH`.
fn write_bars(svg: &mut String, overview: &Overview) -> fmt::Result {
    let busiest = overview
        .grant_types
        .iter()
        .map(|g| g.total)
        .max()
        .unwrap_or(0);
    for (row, grant_type) in overview.grant_types.iter().enumerate() {
        let top = BARS_TOP + ROW_HEIGHT * row as u64;
        let name = escape_xml(grant_type.grant_type);
        write!(svg, r#"<text x="{MARGIN}" y="{}">{name}</text>"#, top + 12)?;
        let bar_top = top + 18;
        // Each segment runs between the scaled running sums, so rounding never makes the
        // segments overlap or the bar longer than its total.
        let mut before = 0u64;
        for (outcome, count) in &grant_type.outcomes {
            let after = before.saturating_add(*count);
            let x = MARGIN + scale(before, BAR_WIDTH, busiest);
            let width = MARGIN + scale(after, BAR_WIDTH, busiest) - x;
            before = after;
            if width == 0 {
                continue;
            }
            write!(
                svg,
                r#"<rect x="{x}" y="{bar_top}" width="{width}" height="{BAR_HEIGHT}" fill="{}"><title>{name}: {count} {}</title></rect>"#,
                outcome_colour(outcome),
                escape_xml(outcome)
            )?;
        }
        write!(
            svg,
            r#"<text x="{}" y="{}" text-anchor="end" font-weight="bold">{}</text>"#,
            WIDTH - MARGIN,
            bar_top + BAR_HEIGHT - 2,
            grant_type.total
        )?;
    }
    Ok(())
}

/// Each outcome's colour, name and count over all grant types.
fn write_legend(svg: &mut String, overview: &Overview) -> fmt::Result {
    let top = overview.legend_top();
    for (index, (outcome, count)) in overview.outcomes.iter().enumerate() {
        let index = index as u64;
        let x = MARGIN + LEGEND_COLUMN_WIDTH * (index % LEGEND_COLUMNS);
        let y = top + LEGEND_ROW_HEIGHT * (index / LEGEND_COLUMNS);
        write!(
            svg,
            r#"<rect x="{x}" y="{y}" width="12" height="12" fill="{}"/>"#,
            outcome_colour(outcome)
        )?;
        write!(
            svg,
            r#"<text x="{}" y="{}" font-size="11">{} {count}</text>"#,
            x + 18,
            y + 10,
            escape_xml(outcome)
        )?;
    }
    Ok(())
}

/// `value` of `full` as whole pixels of `length`, rounded down; nothing when `full` is 0.
fn scale(value: u64, length: u64, full: u64) -> u64 {
    if full == 0 {
        return 0;
    }
    let scaled = u128::from(value.min(full)) * u128::from(length) / u128::from(full);
    // At most `length`, which is a u64.
    u64::try_from(scaled).unwrap_or(length)
}

/// `text` as XML character data or attribute value: the five markup characters as entities, and
/// characters XML 1.0 does not allow at all (control characters, U+FFFE, U+FFFF) as U+FFFD, so the
/// document stays well-formed whatever the configuration holds.
fn escape_xml(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&apos;"),
            '\t' | '\n' | '\r' => escaped.push(c),
            '\u{0}'..='\u{1f}' | '\u{fffe}' | '\u{ffff}' => escaped.push('\u{fffd}'),
            _ => escaped.push(c),
        }
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;

    fn requests(grant_type: &str, outcome: &str, per_minute: &[(usize, u64)]) -> RecentRequests {
        let mut minutes = vec![0; RECENT_MINUTES];
        for (index, count) in per_minute {
            minutes[*index] = *count;
        }
        RecentRequests {
            grant_type: grant_type.into(),
            outcome: outcome.into(),
            total: minutes.iter().fold(0u64, |sum, n| sum.saturating_add(*n)),
            per_minute: minutes,
        }
    }

    /// Checks the document is well-formed as far as this module can break it: every tag closed
    /// in order, every `&` an entity, no attribute without quotes. Returns the element names.
    fn well_formed_elements(svg: &str) -> Vec<String> {
        let mut open: Vec<String> = Vec::new();
        let mut seen = Vec::new();
        let mut rest = svg;
        while let Some(start) = rest.find('<') {
            let text = &rest[..start];
            assert_entities(text);
            let end = rest[start..].find('>').expect("a tag ends") + start;
            let tag = &rest[start + 1..end];
            assert!(!tag.contains('<'), "'<' inside a tag: {tag}");
            if let Some(name) = tag.strip_prefix('/') {
                assert_eq!(open.pop().as_deref(), Some(name), "closing {name}");
            } else {
                let self_closing = tag.ends_with('/');
                let tag = tag.trim_end_matches('/');
                let name = tag.split_whitespace().next().expect("a tag name");
                assert_attributes(tag[name.len()..].trim());
                seen.push(name.to_owned());
                if !self_closing {
                    open.push(name.to_owned());
                }
            }
            rest = &rest[end + 1..];
        }
        assert_entities(rest);
        assert!(rest.trim().is_empty(), "text after the root: {rest}");
        assert!(open.is_empty(), "left open: {open:?}");
        seen
    }

    fn assert_entities(text: &str) {
        for (at, _) in text.match_indices('&') {
            let entity = &text[at..];
            assert!(
                ["&amp;", "&lt;", "&gt;", "&quot;", "&apos;"]
                    .iter()
                    .any(|e| entity.starts_with(e)),
                "a bare '&': {text}"
            );
        }
    }

    fn assert_attributes(mut attributes: &str) {
        while !attributes.is_empty() {
            let (name, value) = attributes.split_once("=\"").expect("name=\"value\"");
            assert!(
                !name.trim().is_empty() && !name.contains(' '),
                "{attributes}"
            );
            let close = value.find('"').expect("a closing quote");
            assert_entities(&value[..close]);
            attributes = value[close + 1..].trim_start();
        }
    }

    fn assert_inert(svg: &str) {
        let lower = svg.to_ascii_lowercase();
        assert!(!lower.contains("<script"), "{svg}");
        assert!(!lower.contains("style"), "{svg}");
        assert!(!lower.contains("href"), "{svg}");
        assert!(!lower.contains("javascript:"), "{svg}");
        assert!(!lower.contains("url("), "{svg}");
        // No event handler attribute (onload=, onclick=...): no attribute name starts with "on".
        for (at, _) in lower.match_indices(" on") {
            let after = &lower[at + 1..];
            let word: String = after
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
                .collect();
            assert!(
                !after[word.len()..].starts_with('='),
                "an event handler attribute '{word}': {svg}"
            );
        }
    }

    fn sample() -> Vec<RecentRequests> {
        vec![
            requests("password", "issued", &[(59, 1)]),
            requests(
                "urn:ietf:params:oauth:grant-type:jwt-bearer",
                "invalid_grant",
                &[(10, 2), (59, 1)],
            ),
            requests(
                "urn:ietf:params:oauth:grant-type:jwt-bearer",
                "issued",
                &[(0, 4), (30, 5)],
            ),
            requests("client_credentials", "invalid_client", &[(58, 7)]),
            requests("client_credentials", "issued", &[(58, 3), (59, 3)]),
        ]
    }

    #[test]
    fn every_grant_type_shows_with_its_total_and_outcomes() {
        let svg = token_requests_svg("acme", &sample());
        let elements = well_formed_elements(&svg);
        assert_eq!(elements.first().map(String::as_str), Some("svg"));
        assert_inert(&svg);
        assert!(svg.starts_with(r#"<svg xmlns="http://www.w3.org/2000/svg" width="640" "#));
        assert!(svg.contains(r#" role="img""#), "{svg}");
        assert!(svg.contains("<title>Token requests in the last hour for tenant acme</title>"));
        // The totals as text: 13 for client_credentials, 1 for password, 12 for the JWT bearer
        // grant, 26 in all.
        for (grant_type, total) in [
            ("client_credentials", 13),
            ("password", 1),
            ("urn:ietf:params:oauth:grant-type:jwt-bearer", 12),
        ] {
            assert!(svg.contains(&format!(">{grant_type}</text>")), "{svg}");
            assert!(
                svg.contains(&format!(r#"font-weight="bold">{total}</text>"#)),
                "{grant_type} {total}: {svg}"
            );
        }
        assert!(
            svg.contains(">All 26 requests per minute (peak 10)</text>"),
            "{svg}"
        );
        // The legend: each outcome with its colour and count over all grant types.
        assert!(svg.contains(">issued 16</text>"), "{svg}");
        assert!(svg.contains(">invalid_client 7</text>"), "{svg}");
        assert!(svg.contains(">invalid_grant 3</text>"), "{svg}");
        // The description says it all in words.
        assert!(
            svg.contains(
                "<desc>26 token requests in the last hour on this node. client_credentials: 13 \
                 (6 issued, 7 invalid_client). password: 1 (1 issued). \
                 urn:ietf:params:oauth:grant-type:jwt-bearer: 12 (9 issued, 3 invalid_grant).</desc>"
            ),
            "{svg}"
        );
        // Three rows of bars under the line.
        let height = BARS_TOP + 3 * ROW_HEIGHT + LEGEND_GAP + LEGEND_ROW_HEIGHT + MARGIN;
        assert!(svg.contains(&format!(r#"height="{height}" viewBox="0 0 640 {height}""#)));
    }

    #[test]
    fn issued_is_green_and_first_in_its_bar() {
        let svg = token_requests_svg("acme", &sample());
        let green = svg
            .find(r##"fill="#2e7d32"><title>client_credentials: 6 issued</title>"##)
            .expect("client_credentials' issued segment");
        let orange = svg
            .find(r##"fill="#ef6c00"><title>client_credentials: 7 invalid_client</title>"##)
            .expect("client_credentials' invalid_client segment");
        assert!(green < orange);
        // The busiest grant type fills the bar: 6 and 7 of 13 over 544 pixels, end to end.
        assert!(svg.contains(r##"<rect x="16" y="146" width="251" height="14" fill="#2e7d32">"##));
        assert!(svg.contains(r##"<rect x="267" y="146" width="293" height="14" fill="#ef6c00">"##));
    }

    #[test]
    fn the_line_sums_every_series_per_minute() {
        let svg = token_requests_svg("acme", &sample());
        let points = svg
            .split(r#"points=""#)
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .expect("the polyline's points");
        let points: Vec<&str> = points.split(' ').collect();
        assert_eq!(points.len(), RECENT_MINUTES);
        // Minute 0 has 4; minute 58 is the peak, 7 + 3; minute 59 has 1 + 1 + 3.
        let baseline = SPARKLINE_TOP + SPARKLINE_HEIGHT;
        assert_eq!(points[0], format!("16,{}", baseline - 40 * 4 / 10));
        assert_eq!(points[1], format!("26,{baseline}"));
        assert_eq!(points[58], format!("596,{}", baseline - 40));
        assert_eq!(points[59], format!("606,{}", baseline - 40 * 5 / 10));
    }

    #[test]
    fn labels_are_escaped() {
        let recent = vec![
            requests("<script>alert('x')</script>", "issued", &[(59, 1)]),
            requests("a&b\"c", "odd<code>", &[(59, 2)]),
        ];
        let svg = token_requests_svg("t<&>\"'\u{1}", &recent);
        well_formed_elements(&svg);
        assert_inert(&svg);
        assert!(
            svg.contains(">&lt;script&gt;alert(&apos;x&apos;)&lt;/script&gt;</text>"),
            "{svg}"
        );
        assert!(svg.contains(">a&amp;b&quot;c</text>"), "{svg}");
        assert!(svg.contains(">odd&lt;code&gt; 2</text>"), "{svg}");
        assert!(
            svg.contains("tenant t&lt;&amp;&gt;&quot;&apos;\u{fffd}</title>"),
            "{svg}"
        );
        // An outcome the server does not know is drawn grey.
        assert!(
            svg.contains(r##"fill="#9e9e9e"><title>a&amp;b&quot;c: 2 odd&lt;code&gt;</title>"##),
            "{svg}"
        );
    }

    #[test]
    fn no_requests_is_said_in_words() {
        for recent in [vec![], vec![requests("password", "issued", &[])]] {
            let svg = token_requests_svg("acme", &recent);
            well_formed_elements(&svg);
            assert_inert(&svg);
            assert!(
                svg.contains(">no token requests in the last hour</text>"),
                "{svg}"
            );
            assert!(
                svg.contains(&format!(r#"height="{EMPTY_HEIGHT}""#)),
                "{svg}"
            );
            assert!(svg.contains("<desc>No token requests in the last hour on this node.</desc>"));
            assert!(!svg.contains("<rect"), "{svg}");
            assert!(!svg.contains("<polyline"), "{svg}");
        }
    }

    #[test]
    fn the_height_grows_with_grant_types_and_outcomes() {
        let one = token_requests_svg("acme", &[requests("password", "issued", &[(59, 1)])]);
        let outcomes = [
            "issued",
            "invalid_grant",
            "invalid_client",
            "invalid_request",
        ];
        let four: Vec<RecentRequests> = ["a", "b", "c", "d"]
            .iter()
            .zip(outcomes)
            .map(|(grant_type, outcome)| requests(grant_type, outcome, &[(59, 1)]))
            .collect();
        let four = token_requests_svg("acme", &four);
        let one_height = BARS_TOP + ROW_HEIGHT + LEGEND_GAP + LEGEND_ROW_HEIGHT + MARGIN;
        let four_height = BARS_TOP + 4 * ROW_HEIGHT + LEGEND_GAP + 2 * LEGEND_ROW_HEIGHT + MARGIN;
        assert!(one.contains(&format!(r#"height="{one_height}""#)), "{one}");
        assert!(
            four.contains(&format!(r#"height="{four_height}""#)),
            "{four}"
        );
        assert!(four.contains(r#"width="640""#));
    }

    #[test]
    fn huge_counts_neither_overflow_nor_overrun_the_bar() {
        let recent = vec![
            requests("password", "issued", &[(0, u64::MAX), (1, u64::MAX)]),
            requests("password", "invalid_grant", &[(59, 1)]),
        ];
        let svg = token_requests_svg("acme", &recent);
        well_formed_elements(&svg);
        assert!(
            svg.contains(&format!(
                r##"width="{BAR_WIDTH}" height="14" fill="#2e7d32""##
            )),
            "{svg}"
        );
        assert_eq!(scale(u64::MAX, BAR_WIDTH, u64::MAX), BAR_WIDTH);
        assert_eq!(scale(5, BAR_WIDTH, 0), 0);
    }
}
