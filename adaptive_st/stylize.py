"""`python -m adaptive_st.stylize ...` — see adaptive_st.cli.stylize."""

from adaptive_st.cli.stylize import main

if __name__ == "__main__":
    raise SystemExit(main())
