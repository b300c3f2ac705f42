//! A small namespace-resolved element tree, built with quick-xml from untrusted bytes.
//!
//! ONVIF responses are small (capped at 1 MiB before they get here) but come from hundreds of
//! firmware families that pick their own prefixes (`tt:`, `ns2:`, `SOAP-ENV:`, none at all), so
//! every lookup goes through resolved namespace URIs and local names, never prefixes. Text that
//! is itself a qualified name (SOAP fault codes such as `ter:NotAuthorized`, WS-Discovery
//! `Types`) is resolved against the namespace bindings in scope where it appears, which only
//! the reader knows, so that happens here while parsing.
//!
//! Limits (depth, element count) keep hostile input from exhausting the stack or memory; every
//! malformed input is an [`OnvifError::Xml`], never a panic.

use quick_xml::events::Event;
use quick_xml::name::{QName, ResolveResult};
use quick_xml::reader::NsReader;

use super::OnvifError;

/// Deepest element nesting accepted. Real ONVIF responses stay under 15.
const MAX_DEPTH: usize = 64;
/// Most elements accepted in one document (a GetProfiles answer of a 16-channel NVR has a few
/// thousand).
const MAX_ELEMENTS: usize = 100_000;
/// Most whitespace-separated tokens of one element's text resolved as qualified names.
const MAX_QNAME_TOKENS: usize = 32;

/// A qualified name after namespace resolution: `ter:NotAuthorized` with `ter` bound to
/// `http://www.onvif.org/ver10/error` becomes that namespace plus `NotAuthorized`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QValue {
    /// The namespace URI, or `None` when the name had no prefix and no default namespace was
    /// in scope, or its prefix was never declared (a quirk some devices have).
    pub ns: Option<String>,
    pub local: String,
}

impl QValue {
    /// True for `local` in namespace `ns`, or for `local` with an unresolvable prefix (devices
    /// that forget to declare `ter:` still mean the ONVIF error namespace).
    pub fn is(&self, ns: &str, local: &str) -> bool {
        self.local == local && self.ns.as_deref().is_none_or(|n| n == ns)
    }
}

impl std::fmt::Display for QValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.ns {
            Some(ns) => write!(f, "{{{ns}}}{}", self.local),
            None => f.write_str(&self.local),
        }
    }
}

#[derive(Clone, Debug, Default)]
pub(crate) struct Attr {
    pub local: String,
    pub value: String,
}

/// One element: resolved name, attributes, its own text, and children in document order.
#[derive(Clone, Debug, Default)]
pub(crate) struct Element {
    pub ns: Option<String>,
    pub local: String,
    pub attrs: Vec<Attr>,
    /// The element's direct text content, entities resolved, untrimmed.
    pub text: String,
    /// `text` split on whitespace and each token resolved as a qualified name, when every
    /// token looks like one (at most [`MAX_QNAME_TOKENS`]).
    pub qnames: Vec<QValue>,
    pub children: Vec<Element>,
}

impl Element {
    pub fn is(&self, ns: &str, local: &str) -> bool {
        self.local == local && self.ns.as_deref() == Some(ns)
    }

    /// First child with this local name, in any namespace (vendors mix `tt:` and `tr2:` for
    /// the same field; the parent already pins down the meaning).
    pub fn child(&self, local: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.local == local)
    }

    pub fn children_named<'a>(&'a self, local: &'a str) -> impl Iterator<Item = &'a Element> {
        self.children.iter().filter(move |c| c.local == local)
    }

    /// Follows a chain of child local names.
    pub fn path(&self, locals: &[&str]) -> Option<&Element> {
        let mut e = self;
        for l in locals {
            e = e.child(l)?;
        }
        Some(e)
    }

    /// Trimmed text of the child at `locals`, if present and non-empty.
    pub fn text_at(&self, locals: &[&str]) -> Option<&str> {
        let t = self.path(locals)?.text.trim();
        (!t.is_empty()).then_some(t)
    }

    /// Every element (depth first, self included) with this local name.
    pub fn find_all<'a>(&'a self, local: &str, out: &mut Vec<&'a Element>) {
        if self.local == local {
            out.push(self);
        }
        for c in &self.children {
            c.find_all(local, out);
        }
    }

    pub fn attr(&self, local: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|a| a.local == local)
            .map(|a| a.value.as_str())
    }
}

fn xml_error(pos: u64, msg: impl std::fmt::Display) -> OnvifError {
    OnvifError::Xml {
        pos,
        msg: msg.to_string(),
    }
}

fn resolved(r: ResolveResult<'_>) -> Option<String> {
    match r {
        ResolveResult::Bound(ns) => Some(ns.as_ref().to_owned()),
        ResolveResult::Unbound | ResolveResult::Unknown(_) => None,
    }
}

fn looks_like_qname(token: &str) -> bool {
    token.len() <= 256
        && token.matches(':').count() <= 1
        && !token.starts_with(':')
        && !token.ends_with(':')
        && !token.contains('/')
        && token
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, ':' | '_' | '-' | '.'))
}

/// Parses a whole document. Input must be UTF-8 (a leading byte-order mark is skipped), which
/// every ONVIF device sends: the specification requires it.
pub(crate) fn parse(bytes: &[u8]) -> Result<Element, OnvifError> {
    let text = std::str::from_utf8(bytes).map_err(|e| {
        xml_error(
            e.valid_up_to() as u64,
            "document is not UTF-8 (ONVIF requires UTF-8)",
        )
    })?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut reader = NsReader::from_str(text);
    reader.config_mut().check_end_names = true;

    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    let mut count = 0usize;
    loop {
        let event = reader
            .read_event()
            .map_err(|e| xml_error(reader.error_position(), e))?;
        match event {
            Event::Start(ref s) | Event::Empty(ref s) => {
                count += 1;
                if count > MAX_ELEMENTS {
                    return Err(xml_error(
                        reader.buffer_position(),
                        format!("more than {MAX_ELEMENTS} elements"),
                    ));
                }
                if root.is_some() {
                    return Err(xml_error(
                        reader.buffer_position(),
                        "content after the root element",
                    ));
                }
                let (ns, local) = reader.resolver().resolve_element(s.name());
                let mut el = Element {
                    ns: resolved(ns),
                    local: local.as_ref().to_owned(),
                    ..Element::default()
                };
                for a in s.attributes() {
                    let a = a.map_err(|e| xml_error(reader.buffer_position(), e))?;
                    let key = a.key.as_ref();
                    if key == "xmlns" || key.starts_with("xmlns:") {
                        continue;
                    }
                    let value = a
                        .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                        .map_err(|e| xml_error(reader.buffer_position(), e))?
                        .into_owned();
                    el.attrs.push(Attr {
                        local: a.key.local_name().as_ref().to_owned(),
                        value,
                    });
                }
                if matches!(event, Event::Start(_)) {
                    if stack.len() >= MAX_DEPTH {
                        return Err(xml_error(
                            reader.buffer_position(),
                            format!("elements nested deeper than {MAX_DEPTH}"),
                        ));
                    }
                    stack.push(el);
                } else {
                    attach(&mut stack, &mut root, el);
                }
            }
            Event::End(_) => {
                let Some(mut el) = stack.pop() else {
                    return Err(xml_error(reader.buffer_position(), "unmatched end tag"));
                };
                // The element's own bindings are still in scope while its end tag is handled.
                let tokens: Vec<&str> = el.text.split_whitespace().collect();
                if !tokens.is_empty()
                    && tokens.len() <= MAX_QNAME_TOKENS
                    && tokens.iter().all(|t| looks_like_qname(t))
                {
                    el.qnames = tokens
                        .iter()
                        .map(|t| {
                            let (ns, local) = reader.resolver().resolve(QName(t), true);
                            QValue {
                                ns: resolved(ns),
                                local: local.as_ref().to_owned(),
                            }
                        })
                        .collect();
                }
                attach(&mut stack, &mut root, el);
            }
            Event::Text(t) => {
                let content = t.xml10_content();
                match stack.last_mut() {
                    Some(top) => top.text.push_str(&content),
                    None if content.trim().is_empty() => {}
                    None => {
                        return Err(xml_error(
                            reader.buffer_position(),
                            "text outside the root element",
                        ));
                    }
                }
            }
            Event::CData(c) => match stack.last_mut() {
                Some(top) => top.text.push_str(&c.xml10_content()),
                None => {
                    return Err(xml_error(
                        reader.buffer_position(),
                        "CDATA outside the root element",
                    ));
                }
            },
            Event::GeneralRef(r) => {
                let ch = r
                    .resolve_char_ref()
                    .map_err(|e| xml_error(reader.buffer_position(), e))?;
                let name = r.xml10_content();
                let s: String = match ch {
                    Some(c) => c.to_string(),
                    None => quick_xml::escape::resolve_predefined_entity(&name)
                        .ok_or_else(|| {
                            xml_error(reader.buffer_position(), format!("unknown entity &{name};"))
                        })?
                        .to_owned(),
                };
                match stack.last_mut() {
                    Some(top) => top.text.push_str(&s),
                    None => {
                        return Err(xml_error(
                            reader.buffer_position(),
                            "reference outside the root element",
                        ));
                    }
                }
            }
            Event::DocType(_) => {
                // SOAP forbids DTDs (SOAP 1.2 part 1, 5): no entity games.
                return Err(xml_error(
                    reader.buffer_position(),
                    "document type declarations are not allowed in SOAP",
                ));
            }
            Event::Comment(_) | Event::Decl(_) | Event::PI(_) => {}
            Event::Eof => {
                if !stack.is_empty() {
                    return Err(xml_error(
                        reader.buffer_position(),
                        "document ends inside an element",
                    ));
                }
                return root.ok_or_else(|| xml_error(0, "empty document"));
            }
        }
    }
}

fn attach(stack: &mut [Element], root: &mut Option<Element>, el: Element) {
    match stack.last_mut() {
        Some(parent) => parent.children.push(el),
        None => *root = Some(el),
    }
}
