"""The look: Qt's Fusion style with a dark palette, a little stylesheet, and matching chart colours."""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication

WINDOW, BASE, TEXT, ACCENT = "#1e2024", "#16171b", "#e3e5e8", "#4f8ef7"

STYLESHEET = f"""
QMainWindow::separator {{ background: #2a2d33; width: 3px; height: 3px; }}
QDockWidget {{ color: #c8ccd2; font-weight: 600; }}
QDockWidget::title {{ background: #25282d; padding: 5px 8px; }}
QGroupBox {{ border: 1px solid #33363c; border-radius: 6px; margin-top: 14px; padding-top: 6px; }}
QGroupBox::title {{ subcontrol-origin: margin; left: 10px; padding: 0 4px; color: #8ab4f8; }}
QPushButton {{ background: #2c2f35; border: 1px solid #3a3e45; border-radius: 5px; padding: 5px 12px; }}
QPushButton:hover {{ background: #353941; }}
QPushButton:disabled {{ color: #6b7078; background: #24262b; }}
QPushButton#start:enabled {{ background: {ACCENT}; border-color: {ACCENT}; color: white; font-weight: 600; }}
QProgressBar {{ border: 1px solid #3a3e45; border-radius: 5px; background: {BASE}; text-align: center;
               height: 18px; }}
QProgressBar::chunk {{ background: #3567c4; border-radius: 4px; }}
QWidget#transport {{ background: #1a1c20; }}
QLabel#psnr {{ color: #5cc98a; }}
QLabel#info {{ color: #ffd479; }}
QLabel#timing, QLabel#chart-summary {{ color: #aab0b8; }}
QLabel#result {{ color: #5cc98a; }}
QStatusBar {{ background: #1a1c20; color: #aab0b8; }}
QToolTip {{ background: #2c2f35; color: {TEXT}; border: 1px solid #4a4e56; }}
"""


def apply_theme(app: QApplication) -> None:
    app.setStyle("Fusion")
    p = QPalette()
    colors = {
        QPalette.ColorRole.Window: WINDOW,
        QPalette.ColorRole.WindowText: TEXT,
        QPalette.ColorRole.Base: BASE,
        QPalette.ColorRole.AlternateBase: "#202227",
        QPalette.ColorRole.ToolTipBase: "#2c2f35",
        QPalette.ColorRole.ToolTipText: TEXT,
        QPalette.ColorRole.Text: TEXT,
        QPalette.ColorRole.Button: "#2a2d33",
        QPalette.ColorRole.ButtonText: TEXT,
        QPalette.ColorRole.BrightText: "#ff6b6b",
        QPalette.ColorRole.Highlight: ACCENT,
        QPalette.ColorRole.HighlightedText: "#ffffff",
        QPalette.ColorRole.Link: "#8ab4f8",
        QPalette.ColorRole.PlaceholderText: "#7a8088",
    }
    for role, color in colors.items():
        p.setColor(role, QColor(color))
    for role in (QPalette.ColorRole.WindowText, QPalette.ColorRole.Text, QPalette.ColorRole.ButtonText):
        p.setColor(QPalette.ColorGroup.Disabled, role, QColor("#6b7078"))
    app.setPalette(p)
    app.setStyleSheet(STYLESHEET)
    pg.setConfigOptions(background=BASE, foreground="#aab0b8", antialias=True)
