import type { AnchorHTMLAttributes, MouseEvent, ReactNode } from "react";
import { isPlainClick, navigate } from "../lib/router";

type Props = AnchorHTMLAttributes<HTMLAnchorElement> & { href: string; children: ReactNode };

// A real link (middle-click, copy link and screen readers work) that navigates inside the app on a plain click.
export function Link({ href, onClick, children, ...rest }: Props) {
  const handle = (e: MouseEvent<HTMLAnchorElement>) => {
    onClick?.(e);
    if (!isPlainClick(e) || rest.target !== undefined) return;
    e.preventDefault();
    navigate(href);
    window.scrollTo(0, 0);
  };
  return (
    <a href={href} onClick={handle} {...rest}>
      {children}
    </a>
  );
}
