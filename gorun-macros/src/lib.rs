//! Attribute macros for gorun: `#[gorun::main]` and `#[gorun::test]`.
//!
//! Both rewrite `fn name() -> R { body }` into
//! `fn name() -> R { ::gorun::Builder::new()<options>.run(move || body) }`, so the body runs
//! as the main goroutine of a fresh runtime. The options come from the arguments
//! (`workers = n`, `virtual_time`, `seed = n`, separated by commas), and `#[gorun::test]`
//! adds `.panic_on_fatal(true)`. Written with `proc_macro` alone (no `syn`), to keep
//! builds fast.

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
///
/// Takes the same arguments as `#[gorun::test]` (`workers = n`, `virtual_time`,
/// `seed = n`); a deadlock still exits the process with code 2.
#[proc_macro_attribute]
pub fn main(attr: TokenStream, item: TokenStream) -> TokenStream {
    wrap(attr, item, None)
}

/// Runs a test as the main goroutine of its own gorun runtime (adds `#[test]`).
///
/// A deadlock, a lock cycle or a panic in a goroutine nobody joins fails this test (a panic
/// carrying the report, `Builder::panic_on_fatal`) instead of exiting the test binary.
/// Arguments, separated by commas: `workers = n` (`Builder::workers`), `virtual_time`
/// (`Builder::virtual_time(true)`), `seed = n` (`Builder::seed`).
///
/// ```ignore
/// #[gorun::test(workers = 2, virtual_time)]
/// fn an_hour_in_no_time() {
///     let start = gorun::time::now();
///     gorun::sleep(std::time::Duration::from_secs(3600));
///     assert_eq!(gorun::time::now() - start, std::time::Duration::from_secs(3600));
/// }
/// ```
#[proc_macro_attribute]
pub fn test(attr: TokenStream, item: TokenStream) -> TokenStream {
    wrap(attr, item, Some("test"))
}

/// The builder calls for the macro's arguments, e.g. `.workers(2).virtual_time(true)`.
fn options(attr: TokenStream) -> Result<String, String> {
    let mut out = String::new();
    let tokens: Vec<TokenTree> = attr.into_iter().collect();
    for arg in tokens.split(|t| matches!(t, TokenTree::Punct(p) if p.as_char() == ',')) {
        match arg {
            [] => {}
            [TokenTree::Ident(name)] if name.to_string() == "virtual_time" => {
                out += ".virtual_time(true)";
            }
            [TokenTree::Ident(name), TokenTree::Punct(eq), value @ ..]
                if eq.as_char() == '=' && !value.is_empty() =>
            {
                let name = name.to_string();
                if name != "workers" && name != "seed" {
                    return Err(format!("unknown argument `{name}`"));
                }
                let value: TokenStream = value.iter().cloned().collect();
                out += &format!(".{name}({value})");
            }
            _ => {
                let arg: TokenStream = arg.iter().cloned().collect();
                return Err(format!("unknown argument `{arg}`"));
            }
        }
    }
    Ok(out)
}

fn wrap(attr: TokenStream, item: TokenStream, extra_attr: Option<&str>) -> TokenStream {
    let mut builder = match options(attr) {
        Ok(o) => o,
        Err(e) => {
            return error(&format!(
                "{e}: gorun's attribute macros take `workers = n`, `virtual_time` and \
                 `seed = n`, separated by commas"
            ))
        }
    };
    if extra_attr.is_some() {
        builder.insert_str(0, ".panic_on_fatal(true)");
    }
    let builder: TokenStream = format!("::gorun::Builder::new(){builder}.run")
        .parse()
        .expect("builder calls parse");
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
    // ::gorun::Builder::new()<options>.run(move || { body })
    let mut call = builder;
    call.extend([TokenTree::Group(Group::new(
        Delimiter::Parenthesis,
        [
            TokenTree::Ident(Ident::new("move", Span::call_site())),
            TokenTree::Punct(Punct::new('|', Spacing::Joint)),
            TokenTree::Punct(Punct::new('|', Spacing::Alone)),
            TokenTree::Group(body.clone()),
        ]
        .into_iter()
        .collect(),
    ))]);
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
