//! The XML orgid emits for SAML, built as a small tree and written in its exclusive canonical
//! form (Exclusive XML Canonicalization 1.0, without comments) from the start.
//!
//! Because the document is canonical as written, the bytes signed are the bytes sent: an
//! element's digest is taken over [`El::canonical`] of that element, which is what a verifier's
//! exc-c14n of the same element (after the enveloped-signature transform) yields. That holds for
//! the narrow XML built here, and the types keep it narrow: every element has a prefix of
//! [`Ns`] (so exactly one namespace is visibly used by each element, and it is declared where
//! exc-c14n renders it: on the outermost element that uses it), attributes have no prefix (so
//! they sort by name), there are no comments, processing instructions or mixed content, empty
//! elements are written as start and end tags, and text and attribute values are escaped as
//! c14n escapes them.

/// The namespaces (and their prefixes) the SAML face writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ns {
    Samlp,
    Saml,
    Ds,
    Md,
}

impl Ns {
    fn prefix(self) -> &'static str {
        match self {
            Ns::Samlp => "samlp",
            Ns::Saml => "saml",
            Ns::Ds => "ds",
            Ns::Md => "md",
        }
    }

    pub(crate) fn uri(self) -> &'static str {
        match self {
            Ns::Samlp => "urn:oasis:names:tc:SAML:2.0:protocol",
            Ns::Saml => "urn:oasis:names:tc:SAML:2.0:assertion",
            Ns::Ds => "http://www.w3.org/2000/09/xmldsig#",
            Ns::Md => "urn:oasis:names:tc:SAML:2.0:metadata",
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) enum Node {
    El(El),
    Text(String),
}

/// An element: a prefixed name, unprefixed attributes, children.
#[derive(Debug, Clone)]
pub(crate) struct El {
    ns: Ns,
    name: &'static str,
    attrs: Vec<(&'static str, String)>,
    pub(crate) children: Vec<Node>,
}

impl El {
    pub(crate) fn new(ns: Ns, name: &'static str) -> Self {
        El { ns, name, attrs: Vec::new(), children: Vec::new() }
    }

    /// Adds an attribute (a second of the same name replaces the first).
    pub(crate) fn attr(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.attrs.retain(|(n, _)| *n != name);
        self.attrs.push((name, value.into()));
        self
    }

    pub(crate) fn child(mut self, el: El) -> Self {
        self.children.push(Node::El(el));
        self
    }

    pub(crate) fn children(mut self, els: impl IntoIterator<Item = El>) -> Self {
        self.children.extend(els.into_iter().map(Node::El));
        self
    }

    pub(crate) fn text(mut self, text: impl Into<String>) -> Self {
        self.children.push(Node::Text(text.into()));
        self
    }

    /// The element's exclusive canonical form, as a document of its own (what a verifier
    /// computes for it as a signature's reference or SignedInfo).
    pub(crate) fn canonical(&self) -> String {
        let mut out = String::new();
        self.write(&mut out, &mut Vec::new());
        out
    }

    /// `rendered`: the namespaces declared by output ancestors.
    fn write(&self, out: &mut String, rendered: &mut Vec<Ns>) {
        let p = self.ns.prefix();
        out.push('<');
        out.push_str(p);
        out.push(':');
        out.push_str(self.name);
        let declared = !rendered.contains(&self.ns);
        if declared {
            // Namespace declarations come before attributes.
            out.push_str(" xmlns:");
            out.push_str(p);
            out.push_str("=\"");
            escape_attr(self.ns.uri(), out);
            out.push('"');
            rendered.push(self.ns);
        }
        // Unprefixed attributes share the empty namespace URI: by local name, in code points.
        let mut attrs: Vec<&(&str, String)> = self.attrs.iter().collect();
        attrs.sort_by(|a, b| a.0.cmp(b.0));
        for (name, value) in attrs {
            out.push(' ');
            out.push_str(name);
            out.push_str("=\"");
            escape_attr(value, out);
            out.push('"');
        }
        out.push('>');
        for child in &self.children {
            match child {
                Node::El(el) => el.write(out, rendered),
                Node::Text(t) => escape_text(t, out),
            }
        }
        if declared {
            rendered.pop();
        }
        out.push_str("</");
        out.push_str(p);
        out.push(':');
        out.push_str(self.name);
        out.push('>');
    }
}

/// Text as c14n writes it: `&`, `<`, `>` and CR escaped.
fn escape_text(s: &str, out: &mut String) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\r' => out.push_str("&#xD;"),
            c => out.push(c),
        }
    }
}

/// An attribute value as c14n writes it: `&`, `<`, `"`, TAB, LF and CR escaped.
fn escape_attr(s: &str, out: &mut String) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '"' => out.push_str("&quot;"),
            '\t' => out.push_str("&#x9;"),
            '\n' => out.push_str("&#xA;"),
            '\r' => out.push_str("&#xD;"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespaces_are_declared_where_first_used_and_attributes_sorted() {
        let el = El::new(Ns::Samlp, "Response")
            .attr("Version", "2.0")
            .attr("ID", "_1")
            .child(El::new(Ns::Saml, "Issuer").text("https://id.example"))
            .child(El::new(Ns::Samlp, "Status"))
            .child(El::new(Ns::Saml, "Assertion").child(El::new(Ns::Saml, "Issuer").text("x")));
        assert_eq!(
            el.canonical(),
            "<samlp:Response xmlns:samlp=\"urn:oasis:names:tc:SAML:2.0:protocol\" ID=\"_1\" Version=\"2.0\">\
<saml:Issuer xmlns:saml=\"urn:oasis:names:tc:SAML:2.0:assertion\">https://id.example</saml:Issuer>\
<samlp:Status></samlp:Status>\
<saml:Assertion xmlns:saml=\"urn:oasis:names:tc:SAML:2.0:assertion\"><saml:Issuer>x</saml:Issuer></saml:Assertion>\
</samlp:Response>"
        );
    }

    #[test]
    fn text_and_attributes_are_escaped_as_c14n_does() {
        let el = El::new(Ns::Saml, "AttributeValue").attr("Name", "a\"<&>\t\n\r").text("王芳 <&> \"q\"\r");
        assert_eq!(
            el.canonical(),
            "<saml:AttributeValue xmlns:saml=\"urn:oasis:names:tc:SAML:2.0:assertion\" \
Name=\"a&quot;&lt;&amp;>&#x9;&#xA;&#xD;\">王芳 &lt;&amp;&gt; \"q\"&#xD;</saml:AttributeValue>"
        );
    }

    #[test]
    fn a_subtree_written_alone_declares_its_own_namespace() {
        let inner = El::new(Ns::Saml, "Assertion").child(El::new(Ns::Ds, "Signature"));
        let outer = El::new(Ns::Saml, "Wrapper").child(inner.clone());
        let whole = outer.canonical();
        // Inside the wrapper the Assertion inherits `saml`; alone it declares it.
        assert!(whole.contains("<saml:Assertion><ds:Signature xmlns:ds="));
        assert!(inner.canonical().starts_with("<saml:Assertion xmlns:saml="));
    }
}
