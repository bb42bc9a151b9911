//! Attribute macros for gorun: `#[gorun::main]` and `#[gorun::test]`.
//!
//! Both rewrite `fn name() -> R { body }` into `fn name() -> R { ::gorun::run(move || body) }`,
//! so the body runs as the main goroutine of a fresh runtime. Written with `proc_macro`
//! alone (no `syn`), to keep builds fast.

use proc_macro::{Delimiter, Group, Ident, Punct, Spacing, Span, TokenStream, TokenTree};

/// Runs `fn main` as the main goroutine of a gorun runtime.
///
/// ```ignore
/// #[gorun::main]
/// fn main() {
///     let h = gorun::go(|| 40 + 2);
///     println!("{}", h.join().unwrap());
/// }
/// ```
#[proc_macro_attribute]
pub fn main(attr: TokenStream, item: TokenStream) -> TokenStream {
    wrap(attr, item, None)
}

/// Runs a test as the main goroutine of its own gorun runtime (adds `#[test]`).
#[proc_macro_attribute]
pub fn test(attr: TokenStream, item: TokenStream) -> TokenStream {
    wrap(attr, item, Some("test"))
}

fn wrap(attr: TokenStream, item: TokenStream, extra_attr: Option<&str>) -> TokenStream {
    if !attr.is_empty() {
        return error("gorun's attribute macros take no arguments");
    }
    let mut tokens: Vec<TokenTree> = item.into_iter().collect();
    let body = match tokens.pop() {
        Some(TokenTree::Group(g)) if g.delimiter() == Delimiter::Brace => g,
        _ => return error("expected a function with a body"),
    };
    if !tokens
        .iter()
        .any(|t| matches!(t, TokenTree::Ident(i) if i.to_string() == "fn"))
    {
        return error("expected a function");
    }
    if tokens
        .iter()
        .any(|t| matches!(t, TokenTree::Ident(i) if i.to_string() == "async"))
    {
        return error("gorun runs blocking code: remove `async`");
    }
    // ::gorun::run(move || { body })
    let call: TokenStream = [
        TokenTree::Punct(Punct::new(':', Spacing::Joint)),
        TokenTree::Punct(Punct::new(':', Spacing::Alone)),
        TokenTree::Ident(Ident::new("gorun", Span::call_site())),
        TokenTree::Punct(Punct::new(':', Spacing::Joint)),
        TokenTree::Punct(Punct::new(':', Spacing::Alone)),
        TokenTree::Ident(Ident::new("run", Span::call_site())),
        TokenTree::Group(Group::new(
            Delimiter::Parenthesis,
            [
                TokenTree::Ident(Ident::new("move", Span::call_site())),
                TokenTree::Punct(Punct::new('|', Spacing::Joint)),
                TokenTree::Punct(Punct::new('|', Spacing::Alone)),
                TokenTree::Group(body.clone()),
            ]
            .into_iter()
            .collect(),
        )),
    ]
    .into_iter()
    .collect();
    let mut out = TokenStream::new();
    if let Some(a) = extra_attr {
        let attr: TokenStream = format!("#[{a}]").parse().unwrap();
        out.extend(attr);
    }
    out.extend(tokens);
    out.extend([TokenTree::Group(Group::new(Delimiter::Brace, call))]);
    out
}

fn error(msg: &str) -> TokenStream {
    format!("compile_error!({msg:?});").parse().unwrap()
}
