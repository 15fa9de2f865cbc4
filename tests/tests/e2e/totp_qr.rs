//! TOTP enrolment by QR code: the page's code, read as an authenticator's camera would (rasterised
//! and decoded with rqrr), holds the `otpauth://` URI shown beside it, and its secret signs in.

use crate::oidc::{CB, Op, code_params, pkce};
use crate::sync::Backend;

/// The dark rectangles of the SVG qrcode writes (`M{x} {y}h{w}v{h}H{x}V{y}` each), drawn into a
/// greyscale raster of the SVG's size; decoded with rqrr.
fn decode(svg: &str) -> String {
    let number = |key: &str| -> usize {
        let at = svg.find(&format!("{key}=\"")).unwrap_or_else(|| panic!("{key} in {svg}")) + key.len() + 2;
        svg[at..at + svg[at..].find('"').unwrap()].parse().unwrap()
    };
    let (w, h) = (number("width"), number("height"));
    let d_at = svg.find(" d=\"").expect("a path") + 4;
    let d = &svg[d_at..d_at + svg[d_at..].find('"').unwrap()];
    let mut dark = vec![false; w * h];
    for rect in d.split('M').filter(|s| !s.is_empty()) {
        let nums: Vec<usize> =
            rect.split(|c: char| !c.is_ascii_digit()).filter(|s| !s.is_empty()).map(|s| s.parse().unwrap()).collect();
        let (x, y, rw, rh) = (nums[0], nums[1], nums[2], nums[3]);
        for yy in y..y + rh {
            for xx in x..x + rw {
                dark[yy * w + xx] = true;
            }
        }
    }
    let mut img = rqrr::PreparedImage::prepare_from_greyscale(w, h, |x, y| if dark[y * w + x] { 0 } else { 255 });
    let grids = img.detect_grids();
    assert_eq!(grids.len(), 1, "one QR code in the picture");
    grids[0].decode().expect("a readable QR code").1
}

#[tokio::test]
async fn the_enrolment_qr_code_holds_the_otpauth_uri() {
    let op = Op::start(Backend::Sqlite, "").await;
    let initial = op.reset("zhangwei").await;
    let mut b = op.browser();
    let (_, challenge) = pkce();
    let page = b.authorize(&code_params("vault", CB, &challenge, &[])).await; // vault requires TOTP
    let page = b.login(&page, "zhangwei", &initial).await;
    let page = b.change(&page, "Spring-2026a").await;
    assert_eq!(page.status, 200, "{}", page.body);
    let qr_at = page.body.find("id=\"totp-qr\"").unwrap_or_else(|| panic!("no QR code: {}", page.body));
    let svg = &page.body[qr_at..];
    let svg = &svg[svg.find("<svg").unwrap()..svg.find("</svg>").unwrap() + 6];
    let uri = decode(svg);
    let shown = page.body[page.body.find("otpauth://").unwrap()..]
        .split('<')
        .next()
        .unwrap()
        .replace("&amp;", "&")
        .replace("&#38;", "&");
    assert_eq!(uri, shown, "the code holds the URI shown beside it");
    assert!(uri.starts_with("otpauth://totp/orgid:zhangwei?secret=") && uri.contains("&issuer=orgid"), "{uri}");
    // The secret from the picture gives the code that finishes the sign-in.
    let secret = uri.split("secret=").nth(1).unwrap().split('&').next().unwrap();
    let now = orgid_directory::Clock::now(op.clock.as_ref()).timestamp();
    let code = format!("{:06}", orgid_idp::totp::code_at(secret, now / 30).unwrap());
    let done = b
        .post("/login/otp", &[("csrf", &page.field("csrf")), ("pending", &page.field("pending")), ("code", &code)])
        .await;
    assert_eq!(done.status, 303, "{}", done.body);
    op.stop().await;
}
