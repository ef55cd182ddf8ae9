//! Boxes drawn over a screen: the prompts, the help, the host editor, the paste box and the
//! troubleshooting pane all clear their area, draw a titled border and fill the inside.

use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::Span;
use ratatui::widgets::{Block, Borders, Clear};
use ratatui::Frame;

/// A `w`×`h` rectangle in the middle of `area` (clipped to it).
pub fn centered(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width);
    let h = h.min(area.height);
    Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y + (area.height - h) / 2,
        width: w,
        height: h,
    }
}

/// Clear `r`, draw a border in `border` with `title`; returns the inside.
pub fn boxed(f: &mut Frame, r: Rect, border: Style, title: Span<'static>) -> Rect {
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(border)
        .title(title);
    let inner = block.inner(r);
    f.render_widget(Clear, r);
    f.render_widget(block, r);
    inner
}

/// A `w`×`h` box centred on `area`; returns the inside.
pub fn modal(
    f: &mut Frame,
    area: Rect,
    w: u16,
    h: u16,
    border: Style,
    title: Span<'static>,
) -> Rect {
    boxed(f, centered(area, w, h), border, title)
}
