"""The sides of one turn, merged and compared: streams merged as they arrive (``merge``), what each
side cost (``metrics``), the conversation as data (``transcript``), where two answers part
(``divergence``), teacher-forced scores (``scores``), the reasoning split (``reasoning``) and the
export. Pure data and arithmetic: no engine, no UI, no torch."""
