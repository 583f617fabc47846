def _tiffin_upload(frame, csv_path, schema_path, target, mode):
    """Writes an %%upload cell's DataFrame for the runner: CSV with NULL as \\N, plus types."""
    import datetime
    import decimal
    import json

    import pandas as pd
    from pandas.api import types

    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"%%upload {target}: the cell gave a {type(frame).__name__}, not a pandas DataFrame")
    names = list(frame.columns)
    for name in names:
        if not isinstance(name, str):
            raise TypeError(f"%%upload {target}: column name {name!r} is not a string")
    lowered = [name.lower() for name in names]
    if len(set(lowered)) != len(lowered):
        raise ValueError(f"%%upload {target}: column names repeat (ignoring case): {names}")

    def kind_of(series):
        dtype = series.dtype
        if types.is_bool_dtype(dtype):
            return "bool"
        if types.is_integer_dtype(dtype):
            return "int"
        if types.is_float_dtype(dtype):
            return "float"
        if isinstance(dtype, pd.DatetimeTZDtype):
            return "timestamptz"
        if types.is_datetime64_dtype(dtype):
            return "timestamp"
        values = series.dropna()
        if types.is_string_dtype(dtype) and not len(values):
            return "text"
        kinds = set()
        for value in values:
            if isinstance(value, str):
                kinds.add("text")
            elif isinstance(value, bool):
                kinds.add("bool")
            elif isinstance(value, int):
                kinds.add("int")
            elif isinstance(value, float):
                kinds.add("float")
            elif isinstance(value, decimal.Decimal):
                kinds.add("decimal")
            elif isinstance(value, datetime.datetime):
                kinds.add("timestamptz" if value.tzinfo else "timestamp")
            elif isinstance(value, datetime.date):
                kinds.add("date")
            else:
                raise TypeError(
                    f"%%upload {target}: column {series.name!r} holds a {type(value).__name__}, "
                    "which no table column can hold"
                )
            if len(kinds) > 1:
                raise TypeError(f"%%upload {target}: column {series.name!r} mixes {' and '.join(sorted(kinds))} values")
        return kinds.pop() if kinds else "text"

    columns = []
    out = frame.copy(deep=False)
    for name in names:
        kind = kind_of(frame[name])
        if kind == "timestamptz" and isinstance(frame[name].dtype, pd.DatetimeTZDtype):
            out[name] = frame[name].dt.tz_convert("UTC")
        elif kind == "text":
            # A text value spelled like the NULL marker gets one more backslash (see schema.rs).
            out[name] = frame[name].astype(object).str.replace(r"^(\\+N)$", r"\\\1", regex=True)
        columns.append({"name": name, "type": kind, "db_type": str(frame[name].dtype)})
    out.to_csv(csv_path, index=False, na_rep="\\N")
    with open(schema_path, "w", encoding="utf-8") as schema_file:
        json.dump({"columns": columns, "rows": len(frame)}, schema_file)
    print(f"{target}: {len(frame):,} rows × {len(names)} columns to {mode}")
    display(frame.head(10))  # noqa: F821 (IPython's builtin)
