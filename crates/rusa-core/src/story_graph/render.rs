//! Drawing a [`StoryGraph`]: Graphviz DOT text, an SVG picture, and one self-contained HTML
//! page.
//!
//! The layout (layers, crossing reduction, edge routing) is `layout-rs`'s, a pure-Rust
//! implementation of Graphviz's `dot` approach; the SVG is written here, with a CSS class
//! per node kind, so the page styles it. The HTML page holds everything it needs inline —
//! the SVG, its style and a few lines of script for zooming and panning — and loads
//! nothing from the network, so it works offline and shows the same for the same graph
//! (Rasa's page loaded dagre-d3 and d3 from the internet).

use std::fmt::Write as _;

use layout::core::base::Orientation;
use layout::core::format::{ClipHandle, RenderBackend};
use layout::core::geometry::{Point, Position};
use layout::core::style::StyleAttr;
use layout::std_shapes::shapes::{Arrow, Element, ShapeKind};
use layout::topo::layout::VisualGraph;

use super::{GraphEvent, GraphOptions, NodeKind, StoryGraph, build};

/// The font size the layout measures labels with, in pixels.
const FONT_SIZE: usize = 14;

/// The graph of `sequences` as one self-contained HTML page (no network access, the same
/// bytes for the same input): the library entry point for `rusa visualize` and for a live
/// graph in `rusa interactive` (which passes the conversation's path, from
/// [`super::sequence_from_events`], as one of the sequences and its index as
/// `options.highlight`).
pub fn story_graph_html(sequences: &[Vec<GraphEvent>], options: &GraphOptions) -> String {
    to_html(&build(sequences, options), &options.title)
}

fn escape(text: &str) -> String {
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

/// DOT text of the graph, in the shape Rasa writes (`class`, `label`, `fillcolor`, ...),
/// for Graphviz or other tools.
pub fn to_dot(graph: &StoryGraph) -> String {
    let quote = |s: &str| {
        format!(
            "\"{}\"",
            s.replace('\\', "\\\\")
                .replace('"', "\\\"")
                .replace('\n', "\\n")
        )
    };
    let mut out = String::from("digraph  {\n");
    for (id, node) in &graph.nodes {
        let class = if node.active {
            format!("{} active", node.kind.class())
        } else {
            node.kind.class().to_owned()
        };
        let style = match node.kind {
            NodeKind::Start => ", fillcolor=green, style=filled",
            NodeKind::End => ", fillcolor=red, style=filled",
            NodeKind::User => ", fillcolor=lightblue, shape=rect, style=filled",
            NodeKind::Slots => ", fillcolor=lightyellow, shape=note, style=filled",
            NodeKind::Loop => ", fillcolor=plum, shape=hexagon, style=filled",
            NodeKind::Action => "",
        };
        let _ = writeln!(
            out,
            "{} [class={}, fontsize=12, label={}{style}];",
            quote(&id.to_string()),
            quote(&class),
            quote(&node.label)
        );
    }
    for (from, to) in &graph.edges {
        let class = if graph.active_edges.contains(&(*from, *to)) {
            " [class=active]"
        } else {
            ""
        };
        let _ = writeln!(
            out,
            "{} -> {}{class};",
            quote(&from.to_string()),
            quote(&to.to_string())
        );
    }
    out.push_str("}\n");
    out
}

/// An SVG canvas for `layout-rs` that writes plain SVG elements with CSS classes; the
/// colours come from the stylesheet.
#[derive(Default)]
struct Canvas {
    body: String,
    width: f64,
    height: f64,
    /// The classes of the node whose text comes next (a node draws its box, then its text).
    text_class: String,
}

impl Canvas {
    fn grow(&mut self, p: Point) {
        self.width = self.width.max(p.x + 10.0);
        self.height = self.height.max(p.y + 10.0);
    }
}

/// `class="..."` from an element's properties.
fn class_of(properties: &Option<String>) -> String {
    properties.clone().unwrap_or_default()
}

fn num(x: f64) -> String {
    // Two decimals keep the file small and the output stable.
    let r = (x * 100.0).round() / 100.0;
    if r == r.trunc() {
        format!("{}", r as i64)
    } else {
        format!("{r}")
    }
}

impl RenderBackend for Canvas {
    fn draw_rect(
        &mut self,
        xy: Point,
        size: Point,
        _look: &StyleAttr,
        properties: Option<String>,
        _clip: Option<ClipHandle>,
    ) {
        self.grow(Point::new(xy.x + size.x, xy.y + size.y));
        let class = class_of(&properties);
        let _ = writeln!(
            self.body,
            "<rect class=\"{class}\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" rx=\"6\"/>",
            num(xy.x),
            num(xy.y),
            num(size.x),
            num(size.y)
        );
        self.text_class = class;
    }

    fn draw_line(
        &mut self,
        start: Point,
        stop: Point,
        _look: &StyleAttr,
        properties: Option<String>,
    ) {
        self.grow(start);
        self.grow(stop);
        let _ = writeln!(
            self.body,
            "<line class=\"{}\" x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\"/>",
            class_of(&properties),
            num(start.x),
            num(start.y),
            num(stop.x),
            num(stop.y)
        );
    }

    fn draw_circle(
        &mut self,
        xy: Point,
        size: Point,
        _look: &StyleAttr,
        properties: Option<String>,
    ) {
        self.grow(Point::new(xy.x + size.x / 2.0, xy.y + size.y / 2.0));
        let class = class_of(&properties);
        let _ = writeln!(
            self.body,
            "<ellipse class=\"{class}\" cx=\"{}\" cy=\"{}\" rx=\"{}\" ry=\"{}\"/>",
            num(xy.x),
            num(xy.y),
            num(size.x / 2.0),
            num(size.y / 2.0)
        );
        self.text_class = class;
    }

    fn draw_text(&mut self, xy: Point, text: &str, _look: &StyleAttr) {
        if text.is_empty() {
            return;
        }
        let lines: Vec<&str> = text.lines().collect();
        let line_height = FONT_SIZE as f64 * 1.2;
        let top = xy.y - line_height * (lines.len() as f64 - 1.0) / 2.0;
        let mut tspans = String::new();
        for (i, line) in lines.iter().enumerate() {
            let _ = write!(
                tspans,
                "<tspan x=\"{}\" y=\"{}\">{}</tspan>",
                num(xy.x),
                num(top + line_height * i as f64),
                escape(line)
            );
        }
        let _ = writeln!(
            self.body,
            "<text class=\"label {}\" text-anchor=\"middle\" dominant-baseline=\"central\">{tspans}</text>",
            self.text_class
                .split(' ')
                .filter(|c| !c.starts_with("node"))
                .collect::<Vec<_>>()
                .join(" ")
        );
    }

    fn draw_arrow(
        &mut self,
        path: &[(Point, Point)],
        dashed: bool,
        head: (bool, bool),
        _look: &StyleAttr,
        properties: Option<String>,
        _text: &str,
    ) {
        if path.len() < 2 {
            return;
        }
        for (a, b) in path {
            self.grow(*a);
            self.grow(*b);
        }
        let mut d = format!(
            "M {} {} C {} {}, {} {}, {} {}",
            num(path[0].0.x),
            num(path[0].0.y),
            num(path[0].1.x),
            num(path[0].1.y),
            num(path[1].0.x),
            num(path[1].0.y),
            num(path[1].1.x),
            num(path[1].1.y)
        );
        for (a, b) in &path[2..] {
            let _ = write!(d, " S {} {}, {} {}", num(a.x), num(a.y), num(b.x), num(b.y));
        }
        let mut class = class_of(&properties);
        if dashed {
            class.push_str(" dashed");
        }
        let markers = match head {
            (true, true) => " marker-start=\"url(#head-start)\" marker-end=\"url(#head)\"",
            (true, false) => " marker-start=\"url(#head-start)\"",
            (false, true) => " marker-end=\"url(#head)\"",
            (false, false) => "",
        };
        let _ = writeln!(self.body, "<path class=\"{class}\" d=\"{d}\"{markers}/>");
    }

    fn create_clip(&mut self, _xy: Point, _size: Point, _rounded_px: usize) -> ClipHandle {
        0
    }
}

/// The CSS of the SVG's elements: one colour per node kind (START green, END red, user
/// turns blue, slots yellow, loops purple, as Rasa's colours where Rasa has them).
const SVG_STYLE: &str = "\
rect.node,ellipse.node{fill:#fff;stroke:#555;stroke-width:1.5}\
.node.start{fill:#7f7}.node.end{fill:#f77}.node.intent{fill:#bdf;stroke:#4a80c0}\
.node.slot{fill:#ffeeb0;stroke:#c09a20}.node.loop{fill:#e8d0f8;stroke:#9050b0}\
.node.snippet{fill:#eee;stroke:#999;stroke-dasharray:4 3}\
.node.active{stroke:#d04000;stroke-width:3}\
path.edge{fill:none;stroke:#666;stroke-width:1.3}path.edge.active{stroke:#d04000;stroke-width:2.5}\
.dashed{stroke-dasharray:5 5}\
text.label{font:14px system-ui,-apple-system,'Segoe UI',Roboto,Helvetica,Arial,sans-serif;fill:#111}\
text.label.intent{font-weight:600}";

/// The size of a node's box: its longest line and its number of lines in the label font
/// (about 8 px a character at 14 px, bold user turns a little wider), with padding.
fn node_size(node: &super::Node) -> Point {
    let lines = node.label.lines().count().max(1) as f64;
    let longest = node
        .label
        .lines()
        .map(|l| l.chars().count())
        .max()
        .unwrap_or(1) as f64;
    let per_char = if node.kind == NodeKind::User {
        8.6
    } else {
        8.0
    };
    match node.kind {
        NodeKind::Start | NodeKind::End => Point::new(longest * per_char + 36.0, 34.0),
        _ => Point::new(
            longest * per_char + 22.0,
            lines * FONT_SIZE as f64 * 1.2 + 12.0,
        ),
    }
}

/// Lays the graph out and draws it as an `<svg>` element (without the XML prolog or a
/// namespace, which the HTML page does not need; [`to_svg`] adds them).
fn svg_element(graph: &StoryGraph) -> String {
    let mut vg = VisualGraph::new(Orientation::TopToBottom);
    let mut handles = std::collections::BTreeMap::new();
    for (id, node) in &graph.nodes {
        let shape = match node.kind {
            NodeKind::Start | NodeKind::End => ShapeKind::new_circle(&node.label),
            _ => ShapeKind::new_box(&node.label),
        };
        let look = StyleAttr::simple();
        let size = node_size(node);
        let mut class = format!("node {}", node.kind.class());
        if node.kind == NodeKind::Action && node.label == super::RULE_SNIPPET {
            class.push_str(" snippet");
        }
        if node.active {
            class.push_str(" active");
        }
        let mut element = Element::create_with_properties(
            shape,
            look,
            Orientation::TopToBottom,
            size,
            format!("node-{id} {class}"),
        );
        // Less room beside each node than layout-rs's default (60 px all round), so a
        // graph with many branches stays about as wide as it must be.
        element.pos = Position::new(Point::zero(), size, Point::zero(), Point::new(14.0, 34.0));
        handles.insert(*id, vg.add_node(element));
    }
    for (from, to) in &graph.edges {
        let (Some(a), Some(b)) = (handles.get(from), handles.get(to)) else {
            continue;
        };
        let class = if graph.active_edges.contains(&(*from, *to)) {
            "edge active"
        } else {
            "edge"
        };
        vg.add_edge(Arrow::simple_with_properties("", class), *a, *b);
    }
    let mut canvas = Canvas::default();
    if !graph.nodes.is_empty() {
        vg.do_it(false, false, false, &mut canvas);
    }
    // The properties carry `node-<id> node <kind>`; the id part is only for the layout's
    // element, so it becomes a data attribute.
    let body = fix_node_ids(&canvas.body);
    format!(
        "<svg class=\"story-graph\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\">\n\
         <defs><marker id=\"head\" markerWidth=\"10\" markerHeight=\"7\" refX=\"10\" refY=\"3.5\" orient=\"auto\"><polygon points=\"0 0, 10 3.5, 0 7\" fill=\"#666\"/></marker>\
         <marker id=\"head-start\" markerWidth=\"10\" markerHeight=\"7\" refX=\"0\" refY=\"3.5\" orient=\"auto\"><polygon points=\"10 0, 10 7, 0 3.5\" fill=\"#666\"/></marker></defs>\n\
         <style>{SVG_STYLE}</style>\n{body}</svg>\n",
        w = num(canvas.width),
        h = num(canvas.height),
    )
}

/// `class="node-12 node action"` → `data-node="12" class="node action"`.
fn fix_node_ids(body: &str) -> String {
    let mut out = String::with_capacity(body.len());
    for line in body.lines() {
        match line.find("class=\"node-") {
            Some(at) => {
                let rest = &line[at + "class=\"node-".len()..];
                let (id, tail) = rest.split_once(' ').unwrap_or((rest, ""));
                out.push_str(&line[..at]);
                let _ = write!(out, "data-node=\"{id}\" class=\"{tail}");
            }
            None => out.push_str(line),
        }
        out.push('\n');
    }
    out
}

/// The graph as a standalone SVG file.
pub fn to_svg(graph: &StoryGraph) -> String {
    let element = svg_element(graph);
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n{}",
        element.replacen(
            "<svg class=\"story-graph\"",
            "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"story-graph\"",
            1
        )
    )
}

/// The page around the SVG: a title bar with the legend and the counts, zoom buttons, and
/// the script that zooms (wheel, +/−, fit) and pans (drag).
const PAGE_STYLE: &str = "\
html,body{margin:0;height:100%;display:flex;flex-direction:column;font:14px system-ui,-apple-system,'Segoe UI',Roboto,Helvetica,Arial,sans-serif;color:#222;background:#fafafa}\
header{display:flex;flex-wrap:wrap;gap:6px 18px;align-items:center;padding:8px 14px;border-bottom:1px solid #ddd;background:#fff}\
header h1{font-size:16px;margin:0 8px 0 0}\
.legend span{display:inline-block;padding:1px 8px;margin-right:4px;border:1px solid #999;border-radius:5px}\
.legend .start{background:#7f7}.legend .end{background:#f77}.legend .action{background:#fff}\
.legend .intent{background:#bdf}.legend .slot{background:#ffeeb0}.legend .loop{background:#e8d0f8}\
.tools button{font:inherit;padding:2px 10px;margin-left:4px}\
#view{flex:1;min-height:0;position:relative;overflow:hidden;cursor:grab}\
#view.dragging{cursor:grabbing}#canvas{transform-origin:0 0}";

const PAGE_SCRIPT: &str = "\
(function(){\
var view=document.getElementById('view'),canvas=document.getElementById('canvas'),svg=canvas.querySelector('svg');\
var s=1,x=0,y=0,drag=null;\
function apply(){canvas.style.transform='translate('+x+'px,'+y+'px) scale('+s+')';}\
function size(){return [svg.width.baseVal.value||1,svg.height.baseVal.value||1];}\
function fit(){var d=size(),w=d[0],h=d[1];\
s=Math.min(1.5,Math.min(view.clientWidth/w,view.clientHeight/h)*0.95);\
x=(view.clientWidth-w*s)/2;y=Math.max(10,(view.clientHeight-h*s)/2);apply();}\
function start(){var d=size(),w=d[0],h=d[1];\
s=Math.min(1.5,Math.max(0.7,Math.min(view.clientWidth/w,view.clientHeight/h)*0.95));\
if(w*s<=view.clientWidth){x=(view.clientWidth-w*s)/2;}else{var st=svg.querySelector('ellipse.start');\
var cx=st?st.cx.baseVal.value:w/2;x=Math.min(0,Math.max(view.clientWidth-w*s,view.clientWidth/2-cx*s));}\
y=h*s<=view.clientHeight?(view.clientHeight-h*s)/2:10;apply();}\
function zoom(f,cx,cy){var n=Math.max(0.05,Math.min(8,s*f));x=cx-(cx-x)*n/s;y=cy-(cy-y)*n/s;s=n;apply();}\
view.addEventListener('wheel',function(e){e.preventDefault();var r=view.getBoundingClientRect();\
zoom(e.deltaY<0?1.15:1/1.15,e.clientX-r.left,e.clientY-r.top);},{passive:false});\
view.addEventListener('mousedown',function(e){drag={x:e.clientX-x,y:e.clientY-y};view.classList.add('dragging');});\
window.addEventListener('mousemove',function(e){if(drag){x=e.clientX-drag.x;y=e.clientY-drag.y;apply();}});\
window.addEventListener('mouseup',function(){drag=null;view.classList.remove('dragging');});\
document.getElementById('zin').onclick=function(){zoom(1.25,view.clientWidth/2,view.clientHeight/2);};\
document.getElementById('zout').onclick=function(){zoom(0.8,view.clientWidth/2,view.clientHeight/2);};\
document.getElementById('zfit').onclick=fit;\
start();\
})();";

/// The graph as one self-contained HTML page titled `title`.
pub fn to_html(graph: &StoryGraph, title: &str) -> String {
    let count = |kind: NodeKind| graph.nodes.values().filter(|n| n.kind == kind).count();
    let mut page = String::new();
    let _ = write!(
        page,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{title}</title>\n<style>{PAGE_STYLE}</style>\n</head>\n<body>\n\
         <header><h1>{title}</h1>\
         <div class=\"legend\"><span class=\"start\">START</span><span class=\"action\">action</span>\
         <span class=\"intent\">user: intent, entities</span><span class=\"slot\">slot set</span>\
         <span class=\"loop\">active loop</span><span class=\"end\">END</span></div>\
         <div class=\"counts\">{actions} actions, {users} user turns, {slots} slot steps, {loops} loop steps</div>\
         <div class=\"tools\"><button id=\"zout\" title=\"zoom out\">\u{2212}</button><button id=\"zin\" title=\"zoom in\">+</button><button id=\"zfit\" title=\"show the whole graph\">whole graph</button> <small>drag to move, wheel to zoom</small></div>\
         </header>\n<div id=\"view\"><div id=\"canvas\">\n{svg}</div></div>\n<script>{PAGE_SCRIPT}</script>\n</body>\n</html>\n",
        title = escape(title),
        actions = count(NodeKind::Action),
        users = count(NodeKind::User),
        slots = count(NodeKind::Slots),
        loops = count(NodeKind::Loop),
        svg = svg_element(graph),
    );
    page
}

#[cfg(test)]
mod tests {
    use super::super::GraphEvent;
    use super::*;

    fn sequences() -> Vec<Vec<GraphEvent>> {
        let user = |i: &str| GraphEvent::User {
            intent: Some(i.into()),
            entities: vec![("city".into(), Some("Köln & <Bonn>".into()))],
            text: None,
        };
        vec![
            vec![user("greet"), GraphEvent::Action("utter_greet".into())],
            vec![
                user("bye"),
                GraphEvent::Action("utter_bye".into()),
                GraphEvent::SlotsSet(vec![("done".into(), Some(true.into()))]),
                GraphEvent::ActiveLoop(None),
            ],
        ]
    }

    #[test]
    fn html_is_self_contained_escaped_and_stable() {
        let options = GraphOptions::default();
        let a = story_graph_html(&sequences(), &options);
        let b = story_graph_html(&sequences(), &options);
        assert_eq!(a, b, "the same input gives the same page");
        for needle in ["http:", "https:", "//cdn", "<script src", "<link"] {
            assert!(!a.contains(needle), "{needle}");
        }
        assert!(a.contains("city: Köln &amp; &lt;Bonn&gt;"));
        assert!(a.contains("class=\"node slot\"") && a.contains("class=\"node loop\""));
        assert!(a.contains("done = true"));
    }

    #[test]
    fn dot_and_svg_have_every_node() {
        let graph = build(&sequences(), &GraphOptions::default());
        let dot = to_dot(&graph);
        let svg = to_svg(&graph);
        for node in graph.nodes.values() {
            let first = node.label.lines().next().unwrap();
            assert!(dot.contains(&first.replace('"', "\\\"")), "{first}");
            assert!(svg.contains(&escape(first)), "{first}");
        }
        assert!(svg.starts_with("<?xml"));
        assert_eq!(dot.matches(" -> ").count(), graph.edges.len());
    }
}
