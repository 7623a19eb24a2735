/**
 * @module keyboard
 * The dashboard's keyboard: j / k (or ↓ / ↑) move through the rows of the list on the
 * page, Enter opens the row, / focuses the page's search field, ? shows the shortcuts,
 * Esc leaves a field, closes the help or goes back. And the colour theme: the system's
 * (prefers-color-scheme) unless the toggle chose light or dark, kept in localStorage.
 */
import { useEffect, useRef, useState } from "react";

/** Rows keyboard navigation walks: any `[data-href]` row inside a `[data-nav]` list, in page order. */
const rowSelector = "[data-nav] [data-href]";

function typing(target: EventTarget | null): boolean {
  const el = target as HTMLElement | null;
  return !!el && (el.tagName === "INPUT" || el.tagName === "TEXTAREA" || el.tagName === "SELECT" || el.isContentEditable);
}

export function useKeyboard(navigate: (to: string) => void, detail: boolean): { helpOpen: boolean; setHelpOpen: (open: boolean) => void } {
  const [helpOpen, setHelpOpen] = useState(false);
  const state = useRef({ navigate, detail, helpOpen });
  state.current = { navigate, detail, helpOpen };
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (e.ctrlKey || e.metaKey || e.altKey) return;
      const { navigate, detail, helpOpen } = state.current;
      if (e.key === "Escape") {
        if (helpOpen) return setHelpOpen(false);
        if (typing(e.target)) return (e.target as HTMLElement).blur();
        if (detail) {
          e.preventDefault();
          history.length > 1 ? history.back() : navigate("/runs");
        }
        return;
      }
      if (typing(e.target) || helpOpen) return;
      if (e.key === "?") {
        e.preventDefault();
        setHelpOpen(true);
        return;
      }
      if (e.key === "/") {
        const search = document.querySelector<HTMLElement>("[data-search]");
        if (search) {
          e.preventDefault();
          search.focus();
        }
        return;
      }
      const rows = [...document.querySelectorAll<HTMLElement>(rowSelector)];
      const current = rows.indexOf(document.activeElement as HTMLElement);
      if (e.key === "Enter" && current >= 0) {
        e.preventDefault();
        navigate(rows[current]?.dataset.href as string);
        return;
      }
      const step = e.key === "j" || e.key === "ArrowDown" ? 1 : e.key === "k" || e.key === "ArrowUp" ? -1 : 0;
      if (step === 0 || rows.length === 0) return;
      e.preventDefault();
      const next = current < 0 ? (step > 0 ? 0 : rows.length - 1) : Math.min(rows.length - 1, Math.max(0, current + step));
      rows[next]?.focus();
      rows[next]?.scrollIntoView({ block: "nearest" });
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, []);
  return { helpOpen, setHelpOpen };
}

const shortcuts: Array<[string[], string]> = [
  [["j", "↓"], "next row"],
  [["k", "↑"], "previous row"],
  [["Enter"], "open the row"],
  [["/"], "search"],
  [["Esc"], "leave a field, close this, or go back"],
  [["?"], "show these shortcuts"],
];

export function HelpDialog({ open, onClose }: { open: boolean; onClose: () => void }) {
  const ref = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    const dialog = ref.current;
    if (!dialog) return;
    if (open && !dialog.open) dialog.showModal();
    if (!open && dialog.open) dialog.close();
  }, [open]);
  return (
    <dialog ref={ref} className="help" aria-labelledby="help-title" onClose={onClose} data-testid="help">
      <h3 id="help-title">Keyboard shortcuts</h3>
      <dl>
        {shortcuts.map(([keys, what]) => (
          <div key={what} style={{ display: "contents" }}>
            <dt>
              {keys.map((k, i) => (
                <span key={k}>
                  {i > 0 ? " or " : ""}
                  <kbd>{k}</kbd>
                </span>
              ))}
            </dt>
            <dd>{what}</dd>
          </div>
        ))}
      </dl>
      <button type="button" onClick={onClose}>
        Close
      </button>
    </dialog>
  );
}

export type Theme = "system" | "light" | "dark";
const themeKey = "stepwise.theme";

export function storedTheme(): Theme {
  try {
    const value = localStorage.getItem(themeKey);
    return value === "light" || value === "dark" ? value : "system";
  } catch {
    return "system";
  }
}

/** Applies a theme to the document: `data-theme` on <html>, absent for the system's. */
export function applyTheme(theme: Theme) {
  if (theme === "system") delete document.documentElement.dataset.theme;
  else document.documentElement.dataset.theme = theme;
}

export function ThemeToggle() {
  const [theme, setTheme] = useState<Theme>(storedTheme);
  useEffect(() => {
    applyTheme(theme);
    try {
      if (theme === "system") localStorage.removeItem(themeKey);
      else localStorage.setItem(themeKey, theme);
    } catch {
      // storage refused (private mode): the choice lasts for this page
    }
  }, [theme]);
  const next: Record<Theme, Theme> = { system: "dark", dark: "light", light: "system" };
  return (
    <button type="button" className="theme" aria-label={`colour theme: ${theme} (switch to ${next[theme]})`} onClick={() => setTheme(next[theme])}>
      Theme: {theme}
    </button>
  );
}
