"""`python -m adaptive_st.train ...` — see adaptive_st.cli.train."""

from adaptive_st.cli.train import main

if __name__ == "__main__":
    main()
