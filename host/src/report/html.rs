//! Small HTML pieces every page shares: escaping, shortening long texts, number formats, the
//! stylesheet and the sorting script. Nothing here reads files.

use serde_json::Value;

/// `text` with `& < > " '` escaped, for element content and attribute values alike.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A string value as is, anything else as its JSON text (`null` as empty).
pub fn text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// The first `limit` characters of `text`, escaped, and how many characters were cut.
pub fn shortened(text: &str, limit: usize) -> (String, usize) {
    match text.char_indices().nth(limit) {
        Some((end, _)) => (escape(&text[..end]), text[end..].chars().count()),
        None => (escape(text), 0),
    }
}

/// `metric[mean_key] [ci_low, ci_high]` of a `summary.metrics` entry with two decimals (signed
/// for differences), `-` when absent.
pub fn interval(metric: &Value, mean_key: &str, signed: bool) -> String {
    let number = |key: &str| metric[key].as_f64();
    match (number(mean_key), number("ci_low"), number("ci_high")) {
        (Some(m), Some(lo), Some(hi)) if signed => format!("{m:+.2} [{lo:+.2}, {hi:+.2}]"),
        (Some(m), Some(lo), Some(hi)) => format!("{m:.2} [{lo:.2}, {hi:.2}]"),
        _ => "-".to_owned(),
    }
}

/// The page's opening up to `<body>`, with `title` escaped here.
pub fn open_page(title: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width\"><title>{}</title>\
         <style>{STYLE}</style></head><body>\n",
        escape(title)
    )
}

/// The page's end: the sorting script (optional: without JavaScript the tables keep plan order).
pub fn close_page(html: &mut String) {
    html.push_str("<script>");
    html.push_str(SORT_SCRIPT);
    html.push_str("</script>\n</body></html>\n");
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:1.5rem;color:#222}\
h2{margin-top:2rem;border-bottom:1px solid #ddd}\
table{border-collapse:collapse;margin:.8rem 0}th,td{border:1px solid #ccc;padding:.3rem .5rem;\
text-align:left;vertical-align:top}th{background:#f3f3f3}table.sortable th{cursor:pointer}\
td.num{text-align:right;font-variant-numeric:tabular-nums}.win{color:#075;font-weight:600}\
.fail{color:#a00}.note{color:#666;font-size:.85rem}\
.prompt,pre{white-space:pre-wrap;word-break:break-word;font-family:ui-monospace,monospace;\
font-size:.8rem;margin:.2rem 0}.prompt{max-width:44rem}\
ins{background:#d7f5dd;text-decoration:none}del{background:#fbd9d9}\
table.grid td{width:260px}table.grid img,table.pairs img{width:256px;height:auto;display:block}\
details{margin:.2rem 0}summary{cursor:pointer}.step{border-left:3px solid #ccd;padding-left:.6rem;\
margin:.5rem 0}dl.head{display:grid;grid-template-columns:max-content auto;gap:.2rem 1rem}\
dl.head dt{font-weight:600}dl.head dd{margin:0}";

/// Click a header of a `table.sortable` to sort by that column (numbers numerically); click
/// again to reverse.
const SORT_SCRIPT: &str = "document.querySelectorAll('table.sortable th').forEach(function(th,i){\
th.addEventListener('click',function(){var t=th.closest('table'),b=t.tBodies[0],\
r=Array.prototype.slice.call(b.rows),d=th.dataset.dir==='a'?-1:1;th.dataset.dir=d>0?'a':'d';\
r.sort(function(x,y){var p=x.cells[i].textContent,q=y.cells[i].textContent,\
m=parseFloat(p),n=parseFloat(q);return d*(isNaN(m)||isNaN(n)?p.localeCompare(q):m-n);});\
r.forEach(function(row){b.appendChild(row);});});});";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_covers_markup_and_quotes() {
        assert_eq!(
            escape("<script>alert('x')</script> & \"q\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;q&quot;"
        );
    }

    #[test]
    fn shortened_cuts_at_characters_and_counts_the_rest() {
        assert_eq!(shortened("héllo <b>", 3), ("hél".to_owned(), 6));
        assert_eq!(shortened("<b>", 3), ("&lt;b&gt;".to_owned(), 0));
    }
}
