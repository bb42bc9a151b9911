/// Waits on several channel operations and runs the branch of the one that completes
/// (Go's `select`, in crossbeam-channel's syntax).
///
/// ```text
/// select! {
///     recv(rx) -> res => expr,        // res: Result<T, RecvError>
///     send(tx, value) -> res => expr, // res: Result<(), SendError<T>>
///     default => expr,                // when nothing is ready now
///     default(duration) => expr,      // or: when nothing is ready in time
/// }
/// ```
///
/// Channel operands and send values are evaluated once, in order, on entry. Among ready
/// cases one is chosen uniformly at random; exactly one case completes (a losing send case's
/// value is dropped). Without `default` it parks on every channel at once. A case on
/// [`never()`](crate::never) is never chosen; `select! {}` blocks forever. Up to 48 cases.
///
/// ```
/// use std::time::Duration;
/// gorun::run(|| {
///     let (tx, rx) = gorun::chan::<&str>(0);
///     gorun::go(move || tx.send("ping").unwrap());
///     gorun::select! {
///         recv(rx) -> msg => assert_eq!(msg, Ok("ping")),
///         default(Duration::from_secs(10)) => panic!("timed out"),
///     }
/// });
/// ```
#[macro_export]
macro_rules! select {
    () => {
        $crate::__private::select_forever()
    };
    ($($tokens:tt)+) => {
        $crate::__select_parse!(@parse false () () ($($tokens)+))
    };
}

/// [`select!`](crate::select) that picks the first ready case in source order instead of a
/// random one (Tokio's `biased;`, crossbeam's `Select::new_biased`): earlier cases have
/// priority, such as a shutdown signal ahead of work. Same syntax.
///
/// A case that is always ready starves the ones after it; Go's `select` has no such mode.
///
/// ```
/// gorun::run(|| {
///     let (high_tx, high) = gorun::chan::<u32>(4);
///     let (low_tx, low) = gorun::chan::<u32>(4);
///     high_tx.send(1).unwrap();
///     low_tx.send(2).unwrap();
///     // Both are ready: the first case wins, every time.
///     gorun::select_biased! {
///         recv(high) -> v => assert_eq!(v, Ok(1)),
///         recv(low) -> _ => unreachable!(),
///     }
/// });
/// ```
#[macro_export]
macro_rules! select_biased {
    () => {
        $crate::__private::select_forever()
    };
    ($($tokens:tt)+) => {
        $crate::__select_parse!(@parse true () () ($($tokens)+))
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __select_parse {
    (@parse $biased:tt $cases:tt $default:tt ()) => {
        $crate::__select_gen!(@gen () () () () () $cases (__c0 __c1 __c2 __c3 __c4 __c5 __c6 __c7 __c8 __c9 __c10 __c11 __c12 __c13 __c14 __c15 __c16 __c17 __c18 __c19 __c20 __c21 __c22 __c23 __c24 __c25 __c26 __c27 __c28 __c29 __c30 __c31 __c32 __c33 __c34 __c35 __c36 __c37 __c38 __c39 __c40 __c41 __c42 __c43 __c44 __c45 __c46 __c47 ) $default $biased)
    };
    // recv
    (@parse $biased:tt ($($cases:tt)*) $default:tt
        (recv($r:expr) -> $res:pat => $body:block, $($rest:tt)*)) => {
        $crate::__select_parse!(@parse $biased ($($cases)* [recv ($r) ($res) {$body}]) $default ($($rest)*))
    };
    (@parse $biased:tt ($($cases:tt)*) $default:tt
        (recv($r:expr) -> $res:pat => $body:block $($rest:tt)*)) => {
        $crate::__select_parse!(@parse $biased ($($cases)* [recv ($r) ($res) {$body}]) $default ($($rest)*))
    };
    (@parse $biased:tt ($($cases:tt)*) $default:tt
        (recv($r:expr) -> $res:pat => $body:expr, $($rest:tt)*)) => {
        $crate::__select_parse!(@parse $biased ($($cases)* [recv ($r) ($res) {$body}]) $default ($($rest)*))
    };
    (@parse $biased:tt ($($cases:tt)*) $default:tt
        (recv($r:expr) -> $res:pat => $body:expr)) => {
        $crate::__select_parse!(@parse $biased ($($cases)* [recv ($r) ($res) {$body}]) $default ())
    };
    // send
    (@parse $biased:tt ($($cases:tt)*) $default:tt
        (send($s:expr, $v:expr) -> $res:pat => $body:block, $($rest:tt)*)) => {
        $crate::__select_parse!(@parse $biased ($($cases)* [send ($s, $v) ($res) {$body}]) $default ($($rest)*))
    };
    (@parse $biased:tt ($($cases:tt)*) $default:tt
        (send($s:expr, $v:expr) -> $res:pat => $body:block $($rest:tt)*)) => {
        $crate::__select_parse!(@parse $biased ($($cases)* [send ($s, $v) ($res) {$body}]) $default ($($rest)*))
    };
    (@parse $biased:tt ($($cases:tt)*) $default:tt
        (send($s:expr, $v:expr) -> $res:pat => $body:expr, $($rest:tt)*)) => {
        $crate::__select_parse!(@parse $biased ($($cases)* [send ($s, $v) ($res) {$body}]) $default ($($rest)*))
    };
    (@parse $biased:tt ($($cases:tt)*) $default:tt
        (send($s:expr, $v:expr) -> $res:pat => $body:expr)) => {
        $crate::__select_parse!(@parse $biased ($($cases)* [send ($s, $v) ($res) {$body}]) $default ())
    };
    // default
    (@parse $biased:tt $cases:tt () (default => $body:block, $($rest:tt)*)) => {
        $crate::__select_parse!(@parse $biased $cases (plain {$body}) ($($rest)*))
    };
    (@parse $biased:tt $cases:tt () (default => $body:block $($rest:tt)*)) => {
        $crate::__select_parse!(@parse $biased $cases (plain {$body}) ($($rest)*))
    };
    (@parse $biased:tt $cases:tt () (default => $body:expr, $($rest:tt)*)) => {
        $crate::__select_parse!(@parse $biased $cases (plain {$body}) ($($rest)*))
    };
    (@parse $biased:tt $cases:tt () (default => $body:expr)) => {
        $crate::__select_parse!(@parse $biased $cases (plain {$body}) ())
    };
    (@parse $biased:tt $cases:tt () (default($d:expr) => $body:block, $($rest:tt)*)) => {
        $crate::__select_parse!(@parse $biased $cases (timeout ($d) {$body}) ($($rest)*))
    };
    (@parse $biased:tt $cases:tt () (default($d:expr) => $body:block $($rest:tt)*)) => {
        $crate::__select_parse!(@parse $biased $cases (timeout ($d) {$body}) ($($rest)*))
    };
    (@parse $biased:tt $cases:tt () (default($d:expr) => $body:expr, $($rest:tt)*)) => {
        $crate::__select_parse!(@parse $biased $cases (timeout ($d) {$body}) ($($rest)*))
    };
    (@parse $biased:tt $cases:tt () (default($d:expr) => $body:expr)) => {
        $crate::__select_parse!(@parse $biased $cases (timeout ($d) {$body}) ())
    };
    (@parse $biased:tt $cases:tt $default:tt (default $($rest:tt)*)) => {
        ::core::compile_error!("select!: more than one `default` case")
    };
    (@parse $biased:tt $cases:tt $default:tt ($($rest:tt)*)) => {
        ::core::compile_error!(::core::concat!(
            "select!: expected `recv(rx) -> res => body`, `send(tx, v) -> res => body` or `default => body`, found: ",
            ::core::stringify!($($rest)*)
        ))
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __select_gen {
    // Operands (and send values) are evaluated once, in order, into one tuple matched by
    // reference, so temporaries such as `recv(gorun::after(d))` live through the select.
    // Each case then becomes a typed case object on the stack; the completed one is the
    // one holding a result.
    (@gen ($($ops:tt)*) ($($binds:tt)*) ($($lets:tt)*) ($($refs:tt)*) ($($arms:tt)*)
        ([recv ($r:expr) ($res:pat) $body:tt] $($rest:tt)*) ($name:ident $($names:ident)*) $default:tt $biased:tt) => {
        $crate::__select_gen!(@gen
            ($($ops)* &$r,)
            ($($binds)* $name,)
            ($($lets)* let mut $name = $crate::__private::RecvCase::new($name);)
            ($($refs)* &mut $name,)
            ($($arms)* if $name.is_done() { let $res = $name.into_result(); $body } else)
            ($($rest)*) ($($names)*) $default $biased)
    };
    (@gen ($($ops:tt)*) ($($binds:tt)*) ($($lets:tt)*) ($($refs:tt)*) ($($arms:tt)*)
        ([send ($s:expr, $v:expr) ($res:pat) $body:tt] $($rest:tt)*) ($name:ident $($names:ident)*) $default:tt $biased:tt) => {
        $crate::__select_gen!(@gen
            ($($ops)* (&$s, $v),)
            ($($binds)* $name,)
            ($($lets)* let mut $name = $crate::__private::SendCase::new($name.0, $name.1);)
            ($($refs)* &mut $name,)
            ($($arms)* if $name.is_done() { let $res = $name.into_result(); $body } else)
            ($($rest)*) ($($names)*) $default $biased)
    };
    (@gen $ops:tt $binds:tt $lets:tt $refs:tt $arms:tt ([$($case:tt)*] $($rest:tt)*) () $default:tt $biased:tt) => {
        ::core::compile_error!("select!: too many cases")
    };
    (@gen ($($ops:tt)*) ($($binds:tt)*) ($($lets:tt)*) ($($refs:tt)*) ($($arms:tt)*) () $names:tt () $biased:tt) => {
        match ($($ops)*) {
            ($($binds)*) => {
                $($lets)*
                $crate::__private::select_cases(&mut [$($refs)*], ::core::option::Option::None, $biased);
                $($arms)* { ::core::unreachable!() }
            }
        }
    };
    (@gen ($($ops:tt)*) ($($binds:tt)*) ($($lets:tt)*) ($($refs:tt)*) ($($arms:tt)*) () $names:tt (plain $body:tt) $biased:tt) => {
        match ($($ops)*) {
            ($($binds)*) => {
                $($lets)*
                if $crate::__private::select_cases(
                    &mut [$($refs)*],
                    ::core::option::Option::Some(::core::option::Option::None),
                    $biased,
                ) {
                    $($arms)* { ::core::unreachable!() }
                } else {
                    $body
                }
            }
        }
    };
    (@gen ($($ops:tt)*) ($($binds:tt)*) ($($lets:tt)*) ($($refs:tt)*) ($($arms:tt)*) () $names:tt (timeout ($d:expr) $body:tt) $biased:tt) => {
        match ($($ops)*) {
            ($($binds)*) => {
                $($lets)*
                if $crate::__private::select_cases(
                    &mut [$($refs)*],
                    ::core::option::Option::Some(::core::option::Option::Some($d)),
                    $biased,
                ) {
                    $($arms)* { ::core::unreachable!() }
                } else {
                    $body
                }
            }
        }
    };
}
